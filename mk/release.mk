# Release artifacts: the Wasm OCI image and the dist/ directory (included from the Makefile;
# uses its WASM, VERSION and the build target).

OCI_LAYOUT := target/oci/claimcheck
DIST := dist/claimcheck-$(VERSION)
# The manifests under deploy/ that name the release; `make dist` fills them in.
DEPLOY_MANIFESTS := deploy/istio/wasmplugin.yaml deploy/istio/trafficextension.yaml \
  deploy/istio/idp-egress.yaml deploy/kuma/meshproxypatch.yaml \
  deploy/envoy/envoy.yaml deploy/envoy/claimcheck-filter.yaml

.PHONY: oci oci-tools oci-test dist

oci: build ## Wasm OCI image layout in target/oci/claimcheck (no container engine); prints its digest
	python3 scripts/oci-image.py $(WASM) $(VERSION) $(OCI_LAYOUT)

oci-tools: ## Install skopeo and docker-registry (apt-get, as root) for oci-test
	@command -v skopeo >/dev/null && command -v docker-registry >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq skopeo docker-registry >/dev/null; \
	  else echo "oci-test needs skopeo and docker-registry: sudo apt-get install skopeo docker-registry" >&2; exit 1; fi; }

oci-test: oci oci-tools ## Push the OCI image to a registry on 127.0.0.1 and pull it back (seconds)
	python3 scripts/test-oci-registry.py $(OCI_LAYOUT) $(VERSION) $(WASM)

dist: oci ## dist/claimcheck-<version>/: the .wasm, its .sha256, the JSON Schema, the OCI layout, filled-in manifests
	rm -rf $(DIST)
	mkdir -p $(DIST)
	cp $(WASM) $(DIST)/claimcheck.wasm
	cd $(DIST) && sha256sum claimcheck.wasm > claimcheck.wasm.sha256
	cp schema/claimcheck.schema.json $(DIST)/claimcheck.schema.json
	cp -r $(OCI_LAYOUT) $(DIST)/oci
	for f in $(DEPLOY_MANIFESTS); do \
	  mkdir -p $(DIST)/$$(dirname $$f); \
	  sed -e 's/$${CLAIMCHECK_VERSION}/$(VERSION)/g' \
	      -e "s/\$${CLAIMCHECK_SHA256}/$$(cut -d' ' -f1 $(DIST)/claimcheck.wasm.sha256)/g" \
	      -e "s/\$${CLAIMCHECK_OCI_DIGEST}/$$(cut -d: -f2 $(OCI_LAYOUT)/digest)/g" \
	      $$f > $(DIST)/$$f; \
	done
	@echo "$(DIST):"; cd $(DIST) && find . -type f -not -path './oci/blobs/*' | sort
