# Two commands do everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test soak bench bench-quick fuse chromium faketime lint reliability clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,server]'
	touch $(STAMP)

# bindfs lets the two-host tests mount one folder twice; skipped (with a reason) where FUSE is absent.
fuse:
	@command -v bindfs >/dev/null 2>&1 || { \
	  if [ -e /dev/fuse ] && command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    (apt-get install -y -qq bindfs fuse3 >/dev/null 2>&1 || \
	     { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq bindfs fuse3 >/dev/null 2>&1; }) \
	    || echo "note: could not install bindfs; two-host tests will be skipped"; \
	  else echo "note: no FUSE or no root; two-host tests will be skipped"; fi; }

# Debian's Chromium for the dashboard tests (Playwright drives it; no browser download);
# skipped (with a reason) where it cannot be installed.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    (apt-get install -y -qq chromium >/dev/null 2>&1 || \
	     { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq chromium >/dev/null 2>&1; }) \
	    || echo "note: could not install chromium; browser tests will be skipped"; \
	  else echo "note: no apt-get or no root; browser tests will be skipped"; fi; }

# libfaketime runs a second process hours ahead or behind in the clock-skew tests;
# skipped (with a reason) where it cannot be installed.
faketime:
	@ls /usr/lib/*/faketime/libfaketime.so.1 >/dev/null 2>&1 || { \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    (apt-get install -y -qq faketime >/dev/null 2>&1 || \
	     { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq faketime >/dev/null 2>&1; }) \
	    || echo "note: could not install faketime; clock-skew tests will be skipped"; \
	  else echo "note: no root or apt-get; clock-skew tests will be skipped"; fi; }

# The demo in a temporary store, then that store served with the dashboard until Ctrl-C.
demo: $(STAMP)
	$(VENV)/bin/fsjobstore demo --serve

# One pytest-xdist worker per core: most tests wait on processes, leases and disks.
test: $(STAMP) fuse chromium faketime
	$(PY) -m pytest -q -n auto --dist worksteal

soak: $(STAMP) fuse faketime
	$(PY) -m pytest -q -m soak

bench: $(STAMP)
	$(PY) -m pip install --quiet -e '.[test,bench]'
	$(PY) benchmarks/run.py
	$(PY) benchmarks/lifecycle_cost.py
	$(PY) benchmarks/scale.py

bench-quick: $(STAMP)
	$(PY) -m pip install --quiet -e '.[test,bench]'
	$(PY) benchmarks/run.py --quick
	$(PY) benchmarks/scale.py --quick

clean:
	rm -rf $(VENV) demo-store .pytest_cache .hypothesis

reliability: $(STAMP) fuse faketime
	$(PY) scripts/reliability_report.py

lint: $(STAMP)
	$(PY) -m pip install --quiet -e '.[test,dev,server]'
	$(VENV)/bin/ruff check fsjobstore tests benchmarks
	$(VENV)/bin/mypy
