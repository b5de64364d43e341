"""Alarms Hearth evaluates itself: the threshold rule (`rule`, pure), which samples an alarm
reads (`matching`), the evaluator that runs on one replica at a time (`evaluator`) and the
webhooks it calls (`webhooks`). Imports nothing at package level."""
