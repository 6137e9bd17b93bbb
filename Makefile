# The two quick-start commands: `make demo` (the main job on the simulated host) and `make test`.
# Everything runs from the project's own virtualenv .venv/, which scripts/ensure-deps creates with
# the stock python3 and fills with this checkout: nothing needs to be activated, and the system
# interpreter's packages are never changed.
VENV := .venv
unexport PYTHONPATH PYTHONHOME VIRTUAL_ENV

.PHONY: demo test bench deps realxen bench-realxen

demo:
	@scripts/ensure-deps cli
	@$(VENV)/bin/xvirt demo

test:
	@scripts/ensure-deps test
	$(VENV)/bin/python -m pytest -q

bench:
	@scripts/ensure-deps bench
	$(VENV)/bin/python -m bench

# real Xen 4.17 in QEMU (root): the in-dom0 suite, and the benchmark against xl and libvirt's libxl driver
realxen:
	@scripts/ensure-deps test
	XVIRT_REALXEN=1 $(PYTHON) -m pytest -q tests/realxen

bench-realxen:
	$(PYTHON) -m bench realxen

deps:
	@scripts/ensure-deps test
