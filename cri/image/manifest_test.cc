#include "cri/image/manifest.h"

#include <gtest/gtest.h>

#include "cri/image/digest.h"
#include "cri/image/registry_client.h"

namespace flint::image {
namespace {

std::string D(char c) { return "sha256:" + std::string(64, c); }

Descriptor Entry(char c, std::string arch, std::string variant = "", std::string os = "linux") {
  Descriptor d;
  d.media_type = kMediaTypeOciManifest;
  d.digest = D(c);
  d.size = 1;
  d.platform = Platform{std::move(os), std::move(arch), std::move(variant)};
  return d;
}

TEST(ManifestTest, SelectsOsArchitectureAndVariant) {
  std::vector<Descriptor> entries = {Entry('1', "amd64", "", "windows"), Entry('2', "arm", "v6"),
                                     Entry('3', "arm", "v7"), Entry('4', "arm64", "v8"), Entry('5', "amd64")};
  EXPECT_EQ(SelectPlatform(entries, {"linux", "amd64", ""})->digest, D('5'));
  EXPECT_EQ(SelectPlatform(entries, {"linux", "arm", "v7"})->digest, D('3'));
  EXPECT_EQ(SelectPlatform(entries, {"linux", "arm64", ""})->digest, D('4'));  // arm64 means v8
  auto none = SelectPlatform(entries, {"linux", "s390x", ""});
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(none.status().message().find("linux/arm/v7"), std::string::npos) << none.status();
  // An entry without a variant serves a request with one.
  EXPECT_EQ(SelectPlatform({Entry('6', "arm64")}, {"linux", "arm64", "v8"})->digest, D('6'));
}

TEST(ManifestTest, ClassifiesByContentTypeOrBody) {
  EXPECT_EQ(*ClassifyManifest(std::string(kMediaTypeDockerList) + "; charset=utf-8", "{}"), ManifestKind::kIndex);
  EXPECT_EQ(*ClassifyManifest(kMediaTypeDockerManifest, "{}"), ManifestKind::kManifest);
  EXPECT_EQ(*ClassifyManifest("application/json", R"({"mediaType":")" + std::string(kMediaTypeOciIndex) + R"("})"),
            ManifestKind::kIndex);
  EXPECT_EQ(*ClassifyManifest("", R"({"schemaVersion":2,"config":{},"layers":[]})"), ManifestKind::kManifest);
  auto v1 = ClassifyManifest("application/vnd.docker.distribution.manifest.v1+prettyjws", R"({"schemaVersion":1})");
  EXPECT_EQ(v1.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ClassifyManifest("", "not json").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ManifestTest, ParsesManifestsAndRejectsUnsupportedMediaTypes) {
  std::string ok = R"({"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":")" +
                   D('a') +
                   R"(","size":10},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+zstd","digest":")" +
                   D('b') + R"(","size":20}]})";
  auto m = ParseManifest(ok);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->config.digest, D('a'));
  ASSERT_EQ(m->layers.size(), 1u);
  EXPECT_EQ(m->layers[0].size, 20);

  std::string helm = ok;
  helm.replace(helm.find("application/vnd.oci.image.config.v1+json"), 40, "application/vnd.cncf.helm.config.v1+json");
  EXPECT_EQ(ParseManifest(helm).status().code(), absl::StatusCode::kInvalidArgument);
  std::string odd_layer = ok;
  odd_layer.replace(odd_layer.find("application/vnd.oci.image.layer.v1.tar+zstd"), 43, "application/x-foo");
  auto bad = ParseManifest(odd_layer);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find(D('b')), std::string::npos);
  std::string bad_digest = ok;
  bad_digest.replace(bad_digest.find(D('b')), 71, "md5:abc");
  EXPECT_EQ(ParseManifest(bad_digest).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ManifestTest, ImageConfig) {
  auto c = ParseImageConfig(R"({"config":{"User":"nobody:nogroup"},"rootfs":{"type":"layers","diff_ids":[")" + D('c') +
                            R"("]}})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->user, "nobody:nogroup");
  EXPECT_EQ(c->diff_ids, std::vector<std::string>{D('c')});
  EXPECT_FALSE(ParseImageConfig(R"({"config":{}})").ok());
}

TEST(ManifestTest, ChainIds) {
  EXPECT_EQ(ChainId("", D('a')), D('a'));
  EXPECT_EQ(ChainId(D('a'), D('b')), Sha256Digest(D('a') + " " + D('b')));
}

TEST(RegistryClientTest, ParsesChallenges) {
  auto c = ParseChallenge(
      R"(Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull,push")");
  EXPECT_EQ(c["scheme"], "bearer");
  EXPECT_EQ(c["realm"], "https://auth.docker.io/token");
  EXPECT_EQ(c["service"], "registry.docker.io");
  EXPECT_EQ(c["scope"], "repository:library/busybox:pull,push");
  auto b = ParseChallenge(R"(Basic realm="Registry Realm")");
  EXPECT_EQ(b["scheme"], "basic");
  EXPECT_EQ(b["realm"], "Registry Realm");
}

TEST(RegistryClientTest, EndpointsMirrorsFirstThenTheRegistry) {
  RegistryConfig config;
  config.mirrors["docker.io"] = {"mirror.local:5000", "http://127.0.0.1:5055/v2/", "https://m.example.com"};
  config.insecure = {"mirror.local:5000", "my.registry:80"};
  auto eps = EndpointsFor(config, "docker.io");
  ASSERT_EQ(eps.size(), 4u);
  EXPECT_EQ(eps[0].base_url, "http://mirror.local:5000");
  EXPECT_TRUE(eps[0].mirror);
  EXPECT_EQ(eps[1].base_url, "http://127.0.0.1:5055");
  EXPECT_EQ(eps[2].base_url, "https://m.example.com");
  EXPECT_EQ(eps[3].base_url, "https://registry-1.docker.io");
  EXPECT_FALSE(eps[3].mirror);
  auto plain = EndpointsFor(config, "my.registry:80");
  ASSERT_EQ(plain.size(), 1u);
  EXPECT_EQ(plain[0].base_url, "http://my.registry:80");
  EXPECT_EQ(EndpointsFor(config, "gcr.io")[0].base_url, "https://gcr.io");
}

TEST(RegistryClientTest, LoopbackRegistriesUsePlainHttp) {
  RegistryConfig config;
  EXPECT_EQ(EndpointsFor(config, "127.0.0.1:5055")[0].base_url, "http://127.0.0.1:5055");
  EXPECT_EQ(EndpointsFor(config, "localhost:5000")[0].base_url, "http://localhost:5000");
  EXPECT_EQ(EndpointsFor(config, "[::1]:5000")[0].base_url, "http://[::1]:5000");
  EXPECT_EQ(EndpointsFor(config, "127.example.com")[0].base_url, "https://127.example.com");
  EXPECT_EQ(EndpointsFor(config, "registry.local:5000")[0].base_url, "https://registry.local:5000");
}

}  // namespace
}  // namespace flint::image
