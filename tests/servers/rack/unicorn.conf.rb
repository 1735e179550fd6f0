# unicorn's configuration for tests/servers/unicorn.bats: a master and 2 forked workers.
worker_processes 2
