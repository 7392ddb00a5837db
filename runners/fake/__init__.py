"""A numpy-only runner for orchestrator tests (like httpx's MockTransport): no framework needed.

It goes through the real harness (data, weights, batch order, evaluation, report), but its
"training" only sleeps and shrinks the output layer. BENCH_FAKE_FAULT makes it misbehave on
purpose: `crash` (SIGKILL itself in epoch 2), `hang` (sleep past any deadline), `error` (raise),
`nan` (diverge); after a valid report: `garbage` (not JSON), `truncated`, `huge` (over the size
cap), `version` (another schema version), `exit3` (report says ok, process exits 3).
With BENCH_FAKE_FAULT_REPEAT=N only repeat N misbehaves.
BENCH_FAKE_EPOCH_SECONDS sets the simulated epoch length (default 0.01). BENCH_FAKE_GPU=1: a GPU
job reports CUDA_VISIBLE_DEVICES as a fake GPU (scheduling tests on CPU-only machines).
"""
