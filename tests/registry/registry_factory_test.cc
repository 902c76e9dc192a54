// Registry URIs and options: every malformed input is InvalidArgument naming what is wrong.

#include "registry/registry_factory.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace roster::registry {
namespace {

using ::roster::testing::StatusIs;
using ::testing::HasSubstr;

TEST(ParseRegistryUriTest, AcceptsZooKeeperAndMemoryUris) {
  ASSERT_OK_AND_ASSIGN(RegistryUri zk, ParseRegistryUri("zk://h1:2181,h2:2182/dolphinscheduler"));
  EXPECT_EQ(zk.scheme, RegistryUri::Scheme::kZooKeeper);
  EXPECT_EQ(zk.hosts, "h1:2181,h2:2182");
  EXPECT_EQ(zk.chroot, "/dolphinscheduler");
  EXPECT_EQ(zk.ToString(), "zk://h1:2181,h2:2182/dolphinscheduler");

  ASSERT_OK_AND_ASSIGN(RegistryUri plain, ParseRegistryUri("zk://127.0.0.1:2181"));
  EXPECT_EQ(plain.chroot, "");

  ASSERT_OK_AND_ASSIGN(RegistryUri memory, ParseRegistryUri("memory://"));
  EXPECT_EQ(memory.scheme, RegistryUri::Scheme::kMemory);
  EXPECT_EQ(memory.memory_name, "");
  ASSERT_OK_AND_ASSIGN(RegistryUri named, ParseRegistryUri("memory://cluster-1/app"));
  EXPECT_EQ(named.memory_name, "cluster-1");
  EXPECT_EQ(named.chroot, "/app");
}

TEST(ParseRegistryUriTest, AcceptsEtcdUris) {
  ASSERT_OK_AND_ASSIGN(RegistryUri etcd,
                       ParseRegistryUri("etcd://10.0.0.5:2379,10.0.0.6:2379/dolphinscheduler"));
  EXPECT_EQ(etcd.scheme, RegistryUri::Scheme::kEtcd);
  EXPECT_EQ(etcd.hosts, "10.0.0.5:2379,10.0.0.6:2379");
  EXPECT_EQ(etcd.chroot, "/dolphinscheduler");
  EXPECT_EQ(etcd.ToString(), "etcd://10.0.0.5:2379,10.0.0.6:2379/dolphinscheduler");
  for (const char* uri : {"etcd://", "etcd:///dolphinscheduler", "etcd://h", "etcd://h:0",
                          "etcd://user:pw@h:2379", "etcd://h:2379/a//b"}) {
    EXPECT_THAT(ParseRegistryUri(uri), StatusIs(absl::StatusCode::kInvalidArgument,
                                                HasSubstr(absl::StrCat("'", uri, "'"))))
        << uri;
  }
  // etcd has no per-node ACLs; several endpoints must be IPv4 addresses (gRPC's ipv4: target).
  RegistryOptions digest;
  digest.digest = "user:password";
  EXPECT_THAT(NewRegistry("etcd://127.0.0.1:2379", digest),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no per-node ACLs")));
  EXPECT_THAT(NewRegistry("etcd://etcd-0:2379,etcd-1:2379", {}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'etcd-0' is not")));
  EXPECT_OK(NewRegistry("etcd://etcd-0:2379/dolphinscheduler", {}).status());
}

// DolphinScheduler 3.3's JDBC registry: the database URI of --worker_group_db_uri behind
// "jdbc:", canonicalised (scheme, explicit port), never with a password.
TEST(ParseRegistryUriTest, AcceptsJdbcUrisOfPostgreSqlAndMySql) {
  ASSERT_OK_AND_ASSIGN(RegistryUri pg, ParseRegistryUri("jdbc:postgresql://ds@db.example:5433/ds"));
  EXPECT_EQ(pg.scheme, RegistryUri::Scheme::kJdbc);
  EXPECT_EQ(pg.ToString(), "jdbc:postgresql://ds@db.example:5433/ds");
  ASSERT_OK_AND_ASSIGN(RegistryUri pg_default, ParseRegistryUri("jdbc:postgres://ds@h/ds"));
  EXPECT_EQ(pg_default.ToString(), "jdbc:postgresql://ds@h:5432/ds");
  ASSERT_OK_AND_ASSIGN(RegistryUri my, ParseRegistryUri("jdbc:mysql://root@10.0.0.5/dolphin"));
  EXPECT_EQ(my.ToString(), "jdbc:mysql://root@10.0.0.5:3306/dolphin");
  ASSERT_OK_AND_ASSIGN(RegistryUri maria, ParseRegistryUri("jdbc:mariadb://root@h:3307/d"));
  EXPECT_EQ(maria.ToString(), "jdbc:mysql://root@h:3307/d");
}

TEST(ParseRegistryUriTest, RejectsJdbcUrisWithPasswordsOrOtherDatabases) {
  for (const char* uri :
       {"jdbc:", "jdbc:oracle://u@h:1521/x", "jdbc:postgresql://u:pw@h/db",
        "jdbc:mysql://u@h:99999/db", "jdbc:postgresql://u@h", "postgresql://u@h/db"}) {
    EXPECT_THAT(ParseRegistryUri(uri), StatusIs(absl::StatusCode::kInvalidArgument)) << uri;
    EXPECT_THAT(NewRegistry(uri, {}), StatusIs(absl::StatusCode::kInvalidArgument)) << uri;
  }
  // The password never reaches the message.
  absl::Status status = ParseRegistryUri("jdbc:postgresql://u:Secret-91@h/db").status();
  EXPECT_THAT(status.message(), ::testing::Not(HasSubstr("Secret-91")));
}

TEST(ParseRegistryUriTest, RejectsMalformedUrisNamingThem) {
  for (const char* uri :
       {"", "zookeeper", "http://h:2181", "zk://", "zk:///chroot", "zk://h",
        "zk://h:", "zk://:2181", "zk://h:0", "zk://h:65536", "zk://h:port", "zk://h:2181,",
        "zk://user:secret@h:2181", "zk://h:2181/a//b", "zk://h:2181/a/", "zk://h:2181/a/../b",
        "zk://h:2181?x=1", "memory://bad name", "memory://a/b/"}) {
    EXPECT_THAT(ParseRegistryUri(uri), StatusIs(absl::StatusCode::kInvalidArgument,
                                                HasSubstr(absl::StrCat("'", uri, "'"))))
        << uri;
    EXPECT_THAT(NewRegistry(uri, {}), StatusIs(absl::StatusCode::kInvalidArgument)) << uri;
  }
}

// Found by registry_uri_fuzz (tests/fuzz): ports that absl::SimpleAtoi reads but that are not
// canonical digits ("+2181", " 2181"), and hosts with control bytes, were accepted.
TEST(ParseRegistryUriTest, PortsAreDecimalDigitsAndHostsPrintable) {
  for (const char* uri : {"zk://h:+2181", "zk://h: 2181", "zk://h:2181 ", "zk://h:02181",
                          "zk://h:2181,h2:\t2182", "zk://h\x01:2181", "zk://h\x81:2181"}) {
    EXPECT_THAT(ParseRegistryUri(uri), StatusIs(absl::StatusCode::kInvalidArgument)) << uri;
  }
  ASSERT_OK_AND_ASSIGN(RegistryUri ipv6, ParseRegistryUri("zk://[::1]:2181,h:1/a"));
  EXPECT_EQ(ipv6.hosts, "[::1]:2181,h:1");
}

// Found by registry_uri_fuzz: the message quoted the URI raw (control bytes, any length) into
// the log.
TEST(ParseRegistryUriTest, MessagesQuoteTheUriEscapedAndBounded) {
  EXPECT_THAT(ParseRegistryUri("\x81ookeeper"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("invalid registry URI '\\x81ookeeper': unknown scheme")));
  const std::string long_uri = "zk://" + std::string(5000, 'h');
  absl::StatusOr<RegistryUri> parsed = ParseRegistryUri(long_uri);
  ASSERT_FALSE(parsed.ok());
  EXPECT_LT(parsed.status().message().size(), 800u);  // the quote is cut, not 5,000 bytes
  EXPECT_THAT(parsed.status().message(), HasSubstr("... (5005 bytes)"));
}

TEST(NewRegistryTest, ValidatesOptions) {
  RegistryOptions short_timeout;
  short_timeout.session_timeout = absl::Milliseconds(1);
  EXPECT_THAT(NewRegistry("memory://", short_timeout),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("session timeout")));
  RegistryOptions no_colon;
  no_colon.digest = "alice";
  EXPECT_THAT(NewRegistry("memory://", no_colon),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("user:password")));
  RegistryOptions missing_file;
  missing_file.digest_file = "/nonexistent/roster-digest";
  EXPECT_THAT(NewRegistry("memory://", missing_file), StatusIs(absl::StatusCode::kNotFound));
  RegistryOptions no_reads;
  no_reads.max_in_flight = 0;
  EXPECT_THAT(NewRegistry("memory://", no_reads), StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace roster::registry
