# A Rack application for tests/servers/puma.bats and unicorn.bats: answers with the worker's pid.
run ->(env) { [200, { "content-type" => "text/plain" }, ["hotswap rack ok pid=#{Process.pid}\n"]] }
