# Everyday commands.
.PHONY: install test test-all lint imports format train bench docs-check
install:
	pip install torch==2.13.0 && pip install -e ".[test]"
test:
	python -m pytest -q
test-all:
	python -m pytest -q -m "slow or not slow"
lint:
	ruff check . && ruff format --check .
imports:  # the import cycles of w2v/, one a line, or "acyclic" (tests/test_imports.py)
	python -m tests.test_imports
format:
	ruff format . && ruff check --fix .
train:
	python train.py
bench:
	python bench/vs_gensim.py --epochs 1
docs-check:
	python -m pytest -q tests/test_docs.py
