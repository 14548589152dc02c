"""The facility test: docs/deploy.md followed on Debian 12's own Tango stack (run_facility.sh)."""
