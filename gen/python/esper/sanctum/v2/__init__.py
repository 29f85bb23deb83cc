"""Generated from proto/ by scripts/gen_protos.py (`make proto`). Do not edit."""
