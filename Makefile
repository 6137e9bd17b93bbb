# The two quick-start commands: `make demo` (the main job on the simulated host) and `make test`.
PYTHON ?= python3

.PHONY: demo test bench deps realxen bench-realxen

demo:
	@scripts/ensure-deps cli
	@xvirt demo

test:
	@scripts/ensure-deps test
	$(PYTHON) -m pytest -q

bench:
	@scripts/ensure-deps test
	$(PYTHON) -m bench

# real Xen 4.17 in QEMU (root): the in-dom0 suite, and the benchmark against xl and libvirt's libxl driver
realxen:
	@scripts/ensure-deps test
	XVIRT_REALXEN=1 $(PYTHON) -m pytest -q tests/realxen

bench-realxen:
	$(PYTHON) -m bench realxen

deps:
	@scripts/ensure-deps test
