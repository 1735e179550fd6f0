# A PSGI application for tests/servers/starman.bats: answers with the worker's pid.
my $app = sub {
    return [200, ['Content-Type' => 'text/plain'], ["hotswap starman ok pid=$$\n"]];
};
