"""One small module per command (group); `orchestrator.cli` only composes them."""
