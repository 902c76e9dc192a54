// Free loopback TCP ports for test servers.
//
// PickUnusedPort() returns a port in [20000, 32000): below the kernel's ephemeral range
// (32768+), so a server's port never collides with the source port of some other
// connection. The port was bindable on 127.0.0.1 when picked and is never handed out twice in
// one process. Another process may still take it before the server binds it: fixtures retry
// their start-up with a new port when binding fails.
//
// Thread-safety: thread-safe.
#pragma once

namespace roster::testing {

// CHECK-fails if no free port is found after many attempts.
int PickUnusedPort();

}  // namespace roster::testing
