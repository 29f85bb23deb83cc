"""Sanctum's health model: one rule table (`table`), evaluated once per applied PPO update
over the aggregated state (`evaluate`); results are typed findings in the snapshot."""
