// A fault-injecting TCP proxy for fault tests: it listens on a free loopback port and forwards
// every connection to one upstream loopback port, and the test switches, at run time and per
// direction, what the "network" between them does:
//
//   TcpProxy proxy({.upstream_port = zk.port()});
//   ASSERT_OK(proxy.Start());
//   StartRosterd({"--registry=zk://127.0.0.1:" + std::to_string(proxy.port()) + "/ds"});
//   proxy.Partition();                                    // both directions blackholed
//   proxy.Heal();                                         // held bytes delivered, in order
//   proxy.SetFault(TcpProxy::kToUpstream, Fault::Latency(absl::Milliseconds(500)));
//   proxy.SetReset(true);                                 // RST everything, refuse new ones
//
// Faults (each direction independently; kToUpstream is client -> server):
//   pass       bytes forwarded as they arrive.
//   latency    each chunk delivered `latency` after it was read.
//   blackhole  bytes (and an end of stream) are held, nothing is forwarded, connections stay
//              open; switching the direction back delivers what was held, in order.
//   trickle    at most `trickle_bytes` every `trickle_interval`.
//   stall      forwarding pauses for random stalls (uniform in [stall_min, stall_max]),
//              separated by random gaps (exponential, mean `stall_gap`): what packet loss looks
//              like to a TCP application (retransmission pauses), without losing bytes.
// Reset is for the whole proxy: every open connection is closed with an RST (SO_LINGER 0) on
// both sides, and while it is set new connections are accepted and reset at once.
//
// One thread runs a poll() loop over every socket and a wake-up pipe; it sleeps until a socket
// is ready, a held chunk falls due, or the test changes a fault. Bytes read are held in memory
// (at most `max_held_bytes` per direction of a connection; beyond that the proxy stops reading
// and TCP's flow control pushes back on the sender).
//
// Thread-safety: thread-safe; the fault setters and counters may be called from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace roster::testing {

struct TcpProxyOptions {
  // Where connections go: 127.0.0.1:upstream_port.
  int upstream_port = 0;
  // Where the proxy listens on 127.0.0.1; 0 picks a free port (tests/testing/ports.h).
  int listen_port = 0;
  // Per direction of a connection, before reading stops.
  size_t max_held_bytes = 4 << 20;
  // Seeds the stall mode's random stalls, so a run can be repeated.
  uint64_t seed = 1;
  // A name for logs ("zk-client", "zk 1->2 quorum").
  std::string name = "proxy";
};

class TcpProxy {
 public:
  enum Direction { kToUpstream = 0, kToClient = 1 };

  // What one direction does; build one with the factories.
  struct Fault {
    enum Kind { kPass, kLatency, kBlackhole, kTrickle, kStall };
    Kind kind = kPass;
    absl::Duration latency = absl::ZeroDuration();
    size_t trickle_bytes = 0;
    absl::Duration trickle_interval = absl::ZeroDuration();
    absl::Duration stall_min = absl::ZeroDuration();
    absl::Duration stall_max = absl::ZeroDuration();
    absl::Duration stall_gap = absl::ZeroDuration();

    static Fault Pass() { return Fault(); }
    static Fault Latency(absl::Duration latency);
    static Fault Blackhole();
    static Fault Trickle(size_t bytes, absl::Duration interval);
    static Fault Stall(absl::Duration min, absl::Duration max, absl::Duration mean_gap);
    std::string ToString() const;
  };

  explicit TcpProxy(TcpProxyOptions options);
  // Shutdown().
  ~TcpProxy();

  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;

  // Binds the listening port and starts the loop. InvalidArgument for a bad upstream port,
  // Unavailable if the port cannot be bound, FailedPrecondition if started before.
  absl::Status Start();
  // Closes every connection and the listener and joins the loop. Idempotent.
  void Shutdown();

  // The listening port (valid after Start()).
  int port() const { return port_; }
  int upstream_port() const { return options_.upstream_port; }

  void SetFault(Direction direction, Fault fault);
  // Both directions.
  void SetFaults(Fault fault);
  Fault fault(Direction direction) const;
  // Both directions blackholed / both back to pass.
  void Partition() { SetFaults(Fault::Blackhole()); }
  void Heal() { SetFaults(Fault::Pass()); }
  // Resets every connection now and every new one while set.
  void SetReset(bool reset);

  // Connections accepted since Start(), and those open now.
  int64_t accepted() const;
  int open_connections() const;
  // Bytes delivered in a direction, over all connections.
  int64_t forwarded(Direction direction) const;
  // Bytes read and not yet delivered in a direction.
  int64_t held(Direction direction) const;
  // Connections the proxy reset (SetReset) so far.
  int64_t resets() const;

 private:
  class Loop;

  const TcpProxyOptions options_;
  int port_ = 0;
  std::unique_ptr<Loop> loop_;
  std::thread thread_;
};

}  // namespace roster::testing
