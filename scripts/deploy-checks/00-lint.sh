# shellcheck shell=bash disable=SC2154  # sourced by scripts/test-deploy: its variables
# The playbooks parse and pass ansible-lint's production profile (host only, no container).
step "syntax check and ansible-lint (production profile)"
(cd ansible && ansible-playbook -i inventory.example.yml --syntax-check site.yml enrol.yml rotate.yml)
(cd ansible && ansible-lint --profile production --offline -q .)
