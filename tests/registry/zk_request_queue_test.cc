// ZkRequestQueue (the in-flight bound, FIFO order, deadlines, handle changes) and
// ZooKeeperStatus (the error mapping), without a server: the handles point at a closed port
// and the requests' `issue` functions only record what they were asked to send; the test
// plays the server by calling OnReply().

#include "registry/zookeeper/zk_request_queue.h"

#include <zookeeper/zookeeper.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "registry/zookeeper/zk_status.h"
#include "tests/testing/status_matchers.h"
#include "util/clock.h"
#include "util/executor.h"

namespace roster::registry {
namespace {

using ::roster::testing::StatusIs;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Ignores everything a handle reports: the test answers requests itself.
class NullSink : public ZkEventSink {
 public:
  void OnZkWatch(uint64_t, int, int, std::string) override {}
  void OnZkReply(uint64_t, uint64_t, ZkReply) override {}
};

// What the test saw a request do.
struct Issued {
  std::string path;
  uint64_t id;
  uint64_t generation;
};
struct Finished {
  std::string path;
  absl::Status status;
};

ZkReply Reply(int rc = ZOK) {
  ZkReply reply;
  reply.rc = rc;
  return reply;
}

class ZkRequestQueueTest : public ::testing::Test {
 protected:
  void SetUp() override { executor_.Start(); }
  void TearDown() override {
    executor_.Shutdown();
    queue_.reset();
    handles_.clear();
  }

  // A handle that never connects (port 1 on loopback refuses), generation `generation`.
  ZkHandle* NewHandle(uint64_t generation) {
    ZkHandle::Options options;
    options.connect_string = "127.0.0.1:1";
    options.session_timeout = absl::Seconds(10);
    options.generation = generation;
    options.executor = &executor_;
    options.sink = &sink_;
    absl::StatusOr<std::unique_ptr<ZkHandle>> handle = ZkHandle::Open(std::move(options));
    EXPECT_TRUE(handle.ok()) << handle.status();
    handles_.push_back(*std::move(handle));
    return handles_.back().get();
  }

  // Runs `f` on the executor and waits for it.
  template <typename F>
  void OnExecutor(F f) {
    absl::Notification done;
    executor_.Post([&] {
      f();
      done.Notify();
    });
    done.WaitForNotification();
  }

  // A request for `path` whose issue records (path, id) and whose finish records the result.
  ZkRequestQueue::Request Record(const std::string& path) {
    ZkRequestQueue::Request request;
    request.operation = "get";
    request.path = path;
    request.issue = [this, path](ZkHandle& handle, uint64_t id) {
      issued_.push_back({path, id, handle.generation()});
      return ZOK;
    };
    request.finish = [this, path](absl::Status failure, ZkReply reply) {
      finished_.push_back({path, failure.ok() ? ZooKeeperStatus(reply.rc, "get", path) : failure});
    };
    return request;
  }

  FakeClock clock_;  // the executor's: request deadlines move only when the test advances it
  SerialExecutor executor_{"queue-test", &clock_};
  NullSink sink_;
  std::vector<std::unique_ptr<ZkHandle>> handles_;
  std::unique_ptr<ZkRequestQueue> queue_;
  // Executor-confined (read by the test through OnExecutor()).
  std::vector<Issued> issued_;
  std::vector<Finished> finished_;
};

std::vector<std::string> Paths(const std::vector<Issued>& issued) {
  std::vector<std::string> out;
  for (const auto& i : issued) out.push_back(i.path);
  return out;
}

TEST_F(ZkRequestQueueTest, BoundsInFlightAndSendsTheRestInOrder) {
  ZkHandle* handle = NewHandle(1);
  OnExecutor([&] {
    queue_ = std::make_unique<ZkRequestQueue>(&executor_, 2, absl::Seconds(60));
    queue_->SetHandle(handle, "unused");
    for (const char* path : {"/a", "/b", "/c", "/d"}) queue_->Submit(Record(path));
    EXPECT_THAT(Paths(issued_), ElementsAre("/a", "/b"));
    EXPECT_EQ(queue_->in_flight(), 2);
    // Answering /a lets /c go; answering /b lets /d go.
    queue_->OnReply(1, issued_[0].id, Reply());
    EXPECT_THAT(Paths(issued_), ElementsAre("/a", "/b", "/c"));
    queue_->OnReply(1, issued_[1].id, Reply(ZNONODE));
    EXPECT_THAT(Paths(issued_), ElementsAre("/a", "/b", "/c", "/d"));
    queue_->OnReply(1, issued_[2].id, Reply());
    queue_->OnReply(1, issued_[3].id, Reply());
    ASSERT_EQ(finished_.size(), 4u);
    EXPECT_OK(finished_[0].status);
    EXPECT_THAT(finished_[1].status,
                StatusIs(absl::StatusCode::kNotFound, HasSubstr("get '/b': no such node")));
    EXPECT_EQ(queue_->in_flight(), 0);
    EXPECT_EQ(queue_->size(), 0u);
  });
}

TEST_F(ZkRequestQueueTest, UnansweredRequestsFailAfterTheTimeoutAndLateRepliesAreDropped) {
  ZkHandle* handle = NewHandle(1);
  OnExecutor([&] {
    queue_ = std::make_unique<ZkRequestQueue>(&executor_, 1, absl::Milliseconds(200));
    queue_->SetHandle(handle, "unused");
    queue_->Submit(Record("/sent"));
    queue_->Submit(Record("/waiting"));  // never sent: the bound is 1
  });
  // OnExecutor() runs after every timer that the advance made due.
  clock_.Advance(absl::Milliseconds(199));
  OnExecutor([&] { EXPECT_THAT(finished_, ::testing::IsEmpty()) << "1 ms before the deadline"; });
  clock_.Advance(absl::Milliseconds(1));
  OnExecutor([&] {
    ASSERT_EQ(finished_.size(), 2u);
    for (const Finished& f : finished_) {
      EXPECT_THAT(f.status, StatusIs(absl::StatusCode::kDeadlineExceeded,
                                     AllOf(HasSubstr(absl::StrCat("get '", f.path, "'")),
                                           HasSubstr("operation timeout"))));
    }
    EXPECT_THAT(Paths(issued_), ElementsAre("/sent"));
    // The sent one still occupies the connection until its reply comes.
    EXPECT_EQ(queue_->in_flight(), 1);
    queue_->OnReply(1, issued_[0].id, Reply());
    EXPECT_EQ(finished_.size(), 2u) << "a late reply must not finish a request twice";
    EXPECT_EQ(queue_->in_flight(), 0);
  });
}

TEST_F(ZkRequestQueueTest, ANewHandleFailsRequestsInFlightOnTheOldOneAndTakesTheRest) {
  ZkHandle* first = NewHandle(1);
  ZkHandle* second = NewHandle(2);
  OnExecutor([&] {
    queue_ = std::make_unique<ZkRequestQueue>(&executor_, 1, absl::Seconds(60));
    queue_->SetHandle(first, "unused");
    queue_->Submit(Record("/old"));
    queue_->Submit(Record("/next"));
    queue_->SetHandle(nullptr, "session expired");
    ASSERT_EQ(finished_.size(), 1u);
    EXPECT_THAT(finished_[0].status,
                StatusIs(absl::StatusCode::kUnavailable, "get '/old': session expired"));
    EXPECT_EQ(issued_.size(), 1u) << "no handle: nothing is sent";
    queue_->SetHandle(second, "session expired");
    ASSERT_EQ(issued_.size(), 2u);
    EXPECT_EQ(issued_[1].path, "/next");
    EXPECT_EQ(issued_[1].generation, 2u);
    // A reply from the old handle is ignored, even one carrying a live request's id.
    queue_->OnReply(1, issued_[1].id, Reply());
    EXPECT_EQ(finished_.size(), 1u);
    queue_->OnReply(2, issued_[1].id, Reply());
    ASSERT_EQ(finished_.size(), 2u);
    EXPECT_OK(finished_[1].status);
  });
}

TEST_F(ZkRequestQueueTest, CloseFailsEverythingNowAndLater) {
  ZkHandle* handle = NewHandle(1);
  OnExecutor([&] {
    queue_ = std::make_unique<ZkRequestQueue>(&executor_, 1, absl::Seconds(60));
    queue_->SetHandle(handle, "unused");
    queue_->Submit(Record("/a"));
    queue_->Submit(Record("/b"));
    queue_->Close(absl::StatusCode::kCancelled, "registry 'x' shut down");
    ASSERT_EQ(finished_.size(), 2u);
    for (const Finished& f : finished_) {
      EXPECT_THAT(f.status, StatusIs(absl::StatusCode::kCancelled, HasSubstr("shut down")));
    }
    queue_->Submit(Record("/c"));  // finishes from a task of its own, not inline
    EXPECT_EQ(finished_.size(), 2u);
  });
  OnExecutor([&] {
    ASSERT_EQ(finished_.size(), 3u);
    EXPECT_THAT(finished_[2].status,
                StatusIs(absl::StatusCode::kCancelled, "get '/c': registry 'x' shut down"));
    EXPECT_EQ(issued_.size(), 1u);
  });
}

TEST(ZooKeeperStatusTest, MapsCodesAndNamesOperationAndPath) {
  const std::string path = "/dolphinscheduler/nodes/worker/10.0.0.21:1234";
  EXPECT_OK(ZooKeeperStatus(ZOK, "create", path));
  EXPECT_THAT(ZooKeeperStatus(ZSESSIONEXPIRED, "create", path),
              StatusIs(absl::StatusCode::kUnavailable,
                       "create '/dolphinscheduler/nodes/worker/10.0.0.21:1234': session expired"));
  struct Case {
    int rc;
    absl::StatusCode code;
  };
  for (const Case& c : std::vector<Case>{
           {ZNONODE, absl::StatusCode::kNotFound},
           {ZNODEEXISTS, absl::StatusCode::kAlreadyExists},
           {ZBADVERSION, absl::StatusCode::kAborted},
           {ZNOTEMPTY, absl::StatusCode::kFailedPrecondition},
           {ZNOCHILDRENFOREPHEMERALS, absl::StatusCode::kFailedPrecondition},
           {ZNOAUTH, absl::StatusCode::kPermissionDenied},
           {ZINVALIDACL, absl::StatusCode::kInvalidArgument},
           {ZBADARGUMENTS, absl::StatusCode::kInvalidArgument},
           {ZCONNECTIONLOSS, absl::StatusCode::kUnavailable},
           {ZOPERATIONTIMEOUT, absl::StatusCode::kUnavailable},
           {ZSESSIONMOVED, absl::StatusCode::kUnavailable},
           {ZINVALIDSTATE, absl::StatusCode::kUnavailable},
           {ZCLOSING, absl::StatusCode::kUnavailable},
           {ZAUTHFAILED, absl::StatusCode::kUnauthenticated},
           {ZMARSHALLINGERROR, absl::StatusCode::kInternal},
           {-999, absl::StatusCode::kUnknown},
       }) {
    EXPECT_THAT(ZooKeeperStatus(c.rc, "set", "/x"), StatusIs(c.code, HasSubstr("set '/x': ")))
        << "rc " << c.rc;
  }
  // Points at the credentials without ever containing them.
  EXPECT_THAT(ZooKeeperStatus(ZNOAUTH, "get", "/secure"),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("digest credentials")));
}

}  // namespace
}  // namespace roster::registry
