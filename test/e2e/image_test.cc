// ImageService e2e: flintd pulls from the local docker-registry fixture over its socket.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#include "test/e2e/flintd_harness.h"
#include "test/e2e/registry_fixture.h"

namespace flint::e2e {
namespace {

namespace v1 = runtime::v1;

class ImageE2E : public testing::Test {
 protected:
  static void SetUpTestSuite() { fixture_error_ = EnsureRegistryFixtures(); }

  void SetUp() override {
    ASSERT_EQ(fixture_error_, "");
    registry_ = RegistryAddress();
    FlintdOptions options;
    options.extra_yaml = "registry:\n  insecure: [\"" + registry_ + "\"]\n  mirrors:\n    docker.io: [\"http://" +
                         registry_ + "\"]\n  stall_timeout_seconds: 20\n  connect_timeout_seconds: 5\n" +
                         "pinned_images: [\"" + registry_ + "/flint/busybox:1.36\"]\n";
    flintd_ = Flintd::Start(options);
    ASSERT_TRUE(flintd_);
  }

  grpc::Status Pull(const std::string& image, std::string* image_ref) {
    v1::PullImageRequest request;
    request.mutable_image()->set_image(image);
    v1::PullImageResponse response;
    grpc::Status status = flintd_->images().PullImage(Context(120).get(), request, &response);
    if (image_ref) *image_ref = response.image_ref();
    return status;
  }

  // ImageStatus; returns false when the image is unknown.
  bool Status(const std::string& image, v1::Image* out, bool verbose = false,
              google::protobuf::Map<std::string, std::string>* info = nullptr) {
    v1::ImageStatusRequest request;
    request.mutable_image()->set_image(image);
    request.set_verbose(verbose);
    v1::ImageStatusResponse response;
    grpc::Status status = flintd_->images().ImageStatus(Context().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    if (out) *out = response.image();
    if (info) *info = response.info();
    return response.has_image();
  }

  std::vector<v1::Image> List(const std::string& filter = "") {
    v1::ListImagesRequest request;
    if (!filter.empty()) request.mutable_filter()->mutable_image()->set_image(filter);
    v1::ListImagesResponse response;
    grpc::Status status = flintd_->images().ListImages(Context().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return {response.images().begin(), response.images().end()};
  }

  grpc::Status Remove(const std::string& image) {
    v1::RemoveImageRequest request;
    request.mutable_image()->set_image(image);
    v1::RemoveImageResponse response;
    return flintd_->images().RemoveImage(Context().get(), request, &response);
  }

  static inline std::string fixture_error_;
  std::string registry_;
  std::unique_ptr<Flintd> flintd_;
};

TEST_F(ImageE2E, PullReturnsConfigDigestAndStatusAgreesForEveryReferenceForm) {
  std::string ref = registry_ + "/flint/busybox:latest";
  std::string image_ref;
  grpc::Status status = Pull(ref, &image_ref);
  ASSERT_TRUE(status.ok()) << status.error_message();
  nlohmann::json entry = ImageEntry(ref);
  ASSERT_FALSE(entry.is_null()) << "images.json lacks " << ref;
  EXPECT_EQ(image_ref, entry["config"].get<std::string>());

  v1::Image image;
  ASSERT_TRUE(Status(ref, &image));
  EXPECT_EQ(image.id(), image_ref);
  EXPECT_GT(image.size(), 0u);
  EXPECT_THAT(image.repo_tags(), testing::Contains(ref));
  std::string digested = registry_ + "/flint/busybox@" + entry["manifest"].get<std::string>();
  EXPECT_THAT(image.repo_digests(), testing::Contains(digested));
  for (const std::string& form : {image_ref, image_ref.substr(7), digested, ref}) {
    v1::Image again;
    ASSERT_TRUE(Status(form, &again)) << form;
    EXPECT_EQ(again.id(), image_ref) << form;
  }
  std::vector<v1::Image> listed = List();
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].id(), image_ref);

  google::protobuf::Map<std::string, std::string> info;
  ASSERT_TRUE(Status(ref, nullptr, /*verbose=*/true, &info));
  ASSERT_TRUE(info.contains("info"));
  EXPECT_NE(info.at("info").find("imageSpec"), std::string::npos);

  v1::ImageFsInfoResponse fs;
  ASSERT_TRUE(flintd_->images().ImageFsInfo(Context().get(), v1::ImageFsInfoRequest(), &fs).ok());
  ASSERT_EQ(fs.image_filesystems_size(), 1);
  EXPECT_GT(fs.image_filesystems(0).used_bytes().value(), 1000000u) << "busybox layer is ~1 MB";
  EXPECT_GT(fs.image_filesystems(0).inodes_used().value(), 100u);
}

TEST_F(ImageE2E, SecondTagAndSchema2VariantShareTheImageId) {
  std::string a, b, c;
  ASSERT_TRUE(Pull(registry_ + "/flint/busybox:latest", &a).ok());
  ASSERT_TRUE(Pull(registry_ + "/flint/busybox:1.36", &b).ok());
  grpc::Status docker = Pull(registry_ + "/flint/busybox-docker:latest", &c);
  ASSERT_TRUE(docker.ok()) << docker.error_message();
  EXPECT_EQ(a, b);
  EXPECT_EQ(a, c);
  std::vector<v1::Image> listed = List();
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].repo_tags_size(), 3);
  EXPECT_TRUE(listed[0].pinned()) << "busybox:1.36 is in pinned_images";

  // Removing by one tag removes the image with all its tags.
  ASSERT_TRUE(Remove(registry_ + "/flint/busybox:1.36").ok());
  EXPECT_FALSE(Status(registry_ + "/flint/busybox:latest", nullptr));
  EXPECT_TRUE(List().empty());
  EXPECT_TRUE(Remove(registry_ + "/flint/busybox:latest").ok()) << "RemoveImage is idempotent";
  EXPECT_TRUE(Remove(a).ok());
}

TEST_F(ImageE2E, PullByDigestRecordsOnlyTheDigest) {
  nlohmann::json entry = ImageEntry(registry_ + "/flint/layers:latest");
  ASSERT_FALSE(entry.is_null());
  std::string by_digest = registry_ + "/flint/layers@" + entry["manifest"].get<std::string>();
  std::string image_ref;
  grpc::Status status = Pull(by_digest, &image_ref);
  ASSERT_TRUE(status.ok()) << status.error_message();
  v1::Image image;
  ASSERT_TRUE(Status(by_digest, &image));
  EXPECT_EQ(image.repo_tags_size(), 0);
  EXPECT_THAT(image.repo_digests(), testing::ElementsAre(by_digest));
}

TEST_F(ImageE2E, MultiPlatformIndexSelectsHostPlatform) {
  std::string image_ref;
  grpc::Status status = Pull(registry_ + "/flint/busybox-multi:latest", &image_ref);
  ASSERT_TRUE(status.ok()) << status.error_message();
  nlohmann::json entry = ImageEntry(registry_ + "/flint/busybox-multi:latest");
  ASSERT_FALSE(entry.is_null());
  std::string amd64_config;
  for (const auto& p : entry["platforms"])
    if (p["platform"] == "linux/amd64") amd64_config = p["config"];
  EXPECT_EQ(image_ref, amd64_config);
}

TEST_F(ImageE2E, ImageUserIsReportedAsUidOrUsername) {
  v1::Image image;
  ASSERT_TRUE(Pull(registry_ + "/flint/config:latest", nullptr).ok());
  ASSERT_TRUE(Status(registry_ + "/flint/config:latest", &image));
  ASSERT_TRUE(image.has_uid());
  EXPECT_EQ(image.uid().value(), 1000);
  EXPECT_EQ(image.username(), "");
  ASSERT_TRUE(Pull(registry_ + "/flint/user-name:latest", nullptr).ok());
  ASSERT_TRUE(Status(registry_ + "/flint/user-name:latest", &image));
  EXPECT_FALSE(image.has_uid());
  EXPECT_EQ(image.username(), "flint");
}

TEST_F(ImageE2E, MirrorRedirectsWholeRegistryKeepingThePath) {
  std::string image_ref;
  grpc::Status status = Pull("docker.io/flint/busybox:latest", &image_ref);
  ASSERT_TRUE(status.ok()) << status.error_message();
  v1::Image image;
  ASSERT_TRUE(Status("docker.io/flint/busybox:latest", &image));
  EXPECT_EQ(image.id(), image_ref);
  EXPECT_THAT(image.repo_tags(), testing::Contains("docker.io/flint/busybox:latest"));
}

TEST_F(ImageE2E, UnknownImageIsNotFoundAndLeavesNothing) {
  grpc::Status status = Pull(registry_ + "/flint/does-not-exist:latest", nullptr);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND) << status.error_message();
  EXPECT_NE(status.error_message().find("flint/does-not-exist"), std::string::npos) << status.error_message();
  EXPECT_TRUE(List().empty());
  EXPECT_FALSE(Status(registry_ + "/flint/does-not-exist:latest", nullptr));
}

TEST_F(ImageE2E, UnreachableRegistryIsRegistryUnavailableQuickly) {
  // A loopback port nobody listens on: bind, read the port, close.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  std::string ref = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/flint/busybox:latest";
  auto start = std::chrono::steady_clock::now();
  grpc::Status status = Pull(ref, nullptr);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNKNOWN) << status.error_message();
  EXPECT_EQ(status.error_message().rfind("RegistryUnavailable", 0), 0u) << status.error_message();
}

TEST_F(ImageE2E, BadReferenceAndUnknownRuntimeHandlerAreInvalidArgument) {
  EXPECT_EQ(Pull("UPPER/Case:tag", nullptr).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  v1::PullImageRequest request;
  request.mutable_image()->set_image(registry_ + "/flint/busybox:latest");
  request.mutable_image()->set_runtime_handler("kata-nonexistent");
  v1::PullImageResponse response;
  grpc::Status status = flintd_->images().PullImage(Context().get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("kata-nonexistent"), std::string::npos);
}

TEST_F(ImageE2E, ImagesSurviveARestart) {
  std::string image_ref;
  ASSERT_TRUE(Pull(registry_ + "/flint/layers:latest", &image_ref).ok());
  std::string config = flintd_->config_path();
  // Restart on the same root: stop, start a new flintd with the same config file.
  ASSERT_EQ(flintd_->Stop(), 0);
  pid_t pid = fork();
  if (pid == 0) {
    execl(Flintd::Binary().c_str(), "flintd", "--config", config.c_str(), nullptr);
    _exit(127);
  }
  ASSERT_TRUE(WaitUntilServing(flintd_->socket()));
  auto stub = v1::ImageService::NewStub(Channel(flintd_->socket()));
  v1::ListImagesResponse listed;
  ASSERT_TRUE(stub->ListImages(Context().get(), v1::ListImagesRequest(), &listed).ok());
  stub.reset();
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_EQ(listed.images_size(), 1);
  EXPECT_EQ(listed.images(0).id(), image_ref);
}

}  // namespace
}  // namespace flint::e2e
