// Uses the installed roster client: builds a client for a target nobody listens on and checks
// that a call fails as it should (UNAVAILABLE, or DEADLINE_EXCEEDED), and that the API protos
// are usable. Exit code 0 on success.
#include <iostream>

#include "roster/client/roster_client.h"
#include "roster/v1/roster.pb.h"

int main() {
  roster::client::ClientOptions options;
  options.target = "127.0.0.1:1";  // nothing listens on port 1
  options.deadline = absl::Seconds(5);
  options.max_attempts = 2;
  auto client = roster::client::RosterClient::Create(options);
  if (!client.ok()) {
    std::cerr << "Create: " << client.status() << std::endl;
    return 1;
  }
  roster::v1::GetMasterSlotRequest request;
  request.set_address("10.0.0.1:5678");
  auto slot = (*client)->GetMasterSlot(request);
  if (slot.ok()) {
    std::cerr << "GetMasterSlot succeeded against a bogus target" << std::endl;
    return 1;
  }
  if (slot.status().code() != absl::StatusCode::kUnavailable &&
      slot.status().code() != absl::StatusCode::kDeadlineExceeded) {
    std::cerr << "GetMasterSlot: unexpected " << slot.status() << std::endl;
    return 1;
  }
  if (roster::v1::NodeState_Name(roster::v1::RUNNING) != "RUNNING") {
    std::cerr << "the generated protos do not work" << std::endl;
    return 1;
  }
  std::cout << "ok: " << slot.status() << std::endl;
  return 0;
}
