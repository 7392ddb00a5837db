from runners.harness import exit_now, main

exit_now(main("keras-jax"))
