#include "cri/image/reference.h"

#include <gtest/gtest.h>

namespace flint::image {
namespace {

const std::string kHex(64, 'a');
const std::string kDigest = "sha256:" + kHex;

std::string Canonical(std::string_view text) {
  auto ref = ParseReference(text);
  EXPECT_TRUE(ref.ok()) << text << ": " << ref.status();
  return ref.ok() ? ref->String() : "";
}

TEST(ReferenceTest, DockerHubDefaults) {
  EXPECT_EQ(Canonical("busybox"), "docker.io/library/busybox:latest");
  EXPECT_EQ(Canonical("busybox:1.36"), "docker.io/library/busybox:1.36");
  EXPECT_EQ(Canonical("user/app"), "docker.io/user/app:latest");
  EXPECT_EQ(Canonical("docker.io/busybox"), "docker.io/library/busybox:latest");
  EXPECT_EQ(Canonical("index.docker.io/library/busybox:1"), "docker.io/library/busybox:1");
  EXPECT_EQ(Canonical("index.docker.io/user/app"), "docker.io/user/app:latest");
}

TEST(ReferenceTest, RegistryDetection) {
  EXPECT_EQ(Canonical("registry.k8s.io/pause:3.10"), "registry.k8s.io/pause:3.10");
  EXPECT_EQ(Canonical("localhost/app"), "localhost/app:latest");
  EXPECT_EQ(Canonical("127.0.0.1:5055/flint/busybox"), "127.0.0.1:5055/flint/busybox:latest");
  EXPECT_EQ(Canonical("localhost:5000/a/b/c:v1"), "localhost:5000/a/b/c:v1");
  // No '.', ':' or localhost: first component is part of the Docker Hub path.
  EXPECT_EQ(Canonical("myregistry/app"), "docker.io/myregistry/app:latest");
  auto ref = ParseReference("gcr.io/project/image:tag");
  ASSERT_TRUE(ref.ok());
  EXPECT_EQ(ref->domain, "gcr.io");
  EXPECT_EQ(ref->repository, "project/image");
  EXPECT_EQ(ref->tag, "tag");
}

TEST(ReferenceTest, Digests) {
  auto ref = ParseReference("busybox@" + kDigest);
  ASSERT_TRUE(ref.ok());
  EXPECT_EQ(ref->tag, "");  // no default tag with a digest
  EXPECT_EQ(ref->digest, kDigest);
  EXPECT_EQ(ref->String(), "docker.io/library/busybox@" + kDigest);
  EXPECT_EQ(ref->DigestedName(), "docker.io/library/busybox@" + kDigest);
  EXPECT_EQ(ref->TaggedName(), "");

  auto both = ParseReference("127.0.0.1:5055/x/y:1.0@" + kDigest);
  ASSERT_TRUE(both.ok());
  EXPECT_EQ(both->domain, "127.0.0.1:5055");
  EXPECT_EQ(both->tag, "1.0");
  EXPECT_EQ(both->digest, kDigest);
}

TEST(ReferenceTest, NoDefaultTag) {
  auto ref = ParseReferenceNoDefaultTag("busybox");
  ASSERT_TRUE(ref.ok());
  EXPECT_EQ(ref->String(), "docker.io/library/busybox");
}

TEST(ReferenceTest, SeparatorsInComponents) {
  EXPECT_EQ(Canonical("docker.io/a.b_c__d---e/f"), "docker.io/a.b_c__d---e/f:latest");
  EXPECT_EQ(Canonical("a.b/c_d"), "a.b/c_d:latest");  // "." makes the first component a registry
  EXPECT_EQ(Canonical("my-registry.example.com:443/team/app_x:v1.2-rc_3"),
            "my-registry.example.com:443/team/app_x:v1.2-rc_3");
}

TEST(ReferenceTest, Invalid) {
  for (std::string bad : std::vector<std::string>{"",
                                                  ":tag",
                                                  "Busybox",
                                                  "docker.io/Library/busybox",
                                                  "busybox:",
                                                  "busybox:-x",
                                                  "busybox@sha256:abc",
                                                  "busybox@md5:" + kHex,
                                                  "busybox@sha256:" + std::string(64, 'A'),
                                                  "a//b",
                                                  "a/",
                                                  "/a",
                                                  "a..b",
                                                  "a___b",
                                                  "-a",
                                                  "a-",
                                                  "a_/b",
                                                  "host:port/x",
                                                  "busybox:" + std::string(129, 'a'),
                                                  "bad_host.io:80x/a",
                                                  "x.io/" + std::string(300, 'a')}) {
    auto ref = ParseReference(bad);
    EXPECT_FALSE(ref.ok()) << "accepted \"" << bad << "\" as " << ref->String();
    if (!ref.ok()) {
      EXPECT_EQ(ref.status().code(), absl::StatusCode::kInvalidArgument);
    }
  }
}

TEST(ReferenceTest, DigestValidation) {
  EXPECT_TRUE(IsValidDigest(kDigest));
  EXPECT_FALSE(IsValidDigest("sha256:" + std::string(63, 'a')));
  EXPECT_FALSE(IsValidDigest("sha512:" + kHex));
  EXPECT_FALSE(IsValidDigest(kHex));
}

}  // namespace
}  // namespace flint::image
