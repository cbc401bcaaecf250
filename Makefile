# Two commands do everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test soak bench bench-quick fuse faketime lint reliability clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# bindfs lets the two-host tests mount one folder twice; skipped (with a reason) where FUSE is absent.
fuse:
	@command -v bindfs >/dev/null 2>&1 || { \
	  if [ -e /dev/fuse ] && command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    (apt-get install -y -qq bindfs fuse3 >/dev/null 2>&1 || \
	     { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq bindfs fuse3 >/dev/null 2>&1; }) \
	    || echo "note: could not install bindfs; two-host tests will be skipped"; \
	  else echo "note: no FUSE or no root; two-host tests will be skipped"; fi; }

# libfaketime runs a second process hours ahead or behind in the clock-skew tests;
# skipped (with a reason) where it cannot be installed.
faketime:
	@ls /usr/lib/*/faketime/libfaketime.so.1 >/dev/null 2>&1 || { \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    (apt-get install -y -qq faketime >/dev/null 2>&1 || \
	     { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq faketime >/dev/null 2>&1; }) \
	    || echo "note: could not install faketime; clock-skew tests will be skipped"; \
	  else echo "note: no root or apt-get; clock-skew tests will be skipped"; fi; }

demo: $(STAMP)
	$(VENV)/bin/fsjobstore demo

test: $(STAMP) fuse faketime
	$(PY) -m pytest -q

soak: $(STAMP) fuse faketime
	$(PY) -m pytest -q -m soak

bench: $(STAMP)
	$(PY) -m pip install --quiet -e '.[test,bench]'
	$(PY) benchmarks/run.py

bench-quick: $(STAMP)
	$(PY) -m pip install --quiet -e '.[test,bench]'
	$(PY) benchmarks/run.py --quick

clean:
	rm -rf $(VENV) demo-store .pytest_cache .hypothesis

reliability: $(STAMP) fuse faketime
	$(PY) scripts/reliability_report.py

lint: $(STAMP)
	$(PY) -m pip install --quiet -e '.[test,dev]'
	$(VENV)/bin/ruff check fsjobstore tests benchmarks
	$(VENV)/bin/mypy
