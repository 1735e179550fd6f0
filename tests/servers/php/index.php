<?php
// For tests/servers/php.bats: answers "gen=G pid=P" (the form the load client and
// get/generation_of in tests/helpers.bash read), with Content-Length.
$body = "gen=" . (getenv("HOTSWAP_GENERATION") ?: "0") . " pid=" . getmypid() . "\n";
header("Content-Type: text/plain");
header("Content-Length: " . strlen($body));
echo $body;
