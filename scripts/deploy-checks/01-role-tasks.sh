# shellcheck shell=bash disable=SC2154  # sourced by scripts/test-deploy: its variables
# The role's own task tests (tests/test_ansible_*.py) against a private cupsd on the host, with
# the Ansible test-deploy installed, so they never only skip (host only, no container).
step "the role's tasks against a private cupsd (tests/test_ansible_*.py, with this Ansible)"
.venv/bin/python -m pytest -q -p no:cacheprovider tests/test_ansible_*.py
