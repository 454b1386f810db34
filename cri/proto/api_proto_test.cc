// Checks that the generated CRI schema matches the facts kubelet and crictl
// depend on: service names, RPC counts and wire numbers.
#include <google/protobuf/descriptor.h>
#include <gtest/gtest.h>

#include <string>

#include "api.grpc.pb.h"
#include "api.pb.h"

namespace {

using google::protobuf::DescriptorPool;
using google::protobuf::EnumDescriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::ServiceDescriptor;

const DescriptorPool& Pool() {
  // Touch a generated type so its file is registered in the generated pool.
  (void)runtime::v1::VersionRequest::descriptor();
  return *DescriptorPool::generated_pool();
}

int FieldNumber(const std::string& message, const std::string& field) {
  const auto* m = Pool().FindMessageTypeByName("runtime.v1." + message);
  if (m == nullptr) return -1;
  const FieldDescriptor* f = m->FindFieldByName(field);
  return f == nullptr ? -1 : f->number();
}

TEST(ApiProtoTest, ServicesHaveUpstreamFullNamesAndRpcCounts) {
  const ServiceDescriptor* runtime = Pool().FindServiceByName("runtime.v1.RuntimeService");
  const ServiceDescriptor* image = Pool().FindServiceByName("runtime.v1.ImageService");
  ASSERT_NE(runtime, nullptr);
  ASSERT_NE(image, nullptr);
  EXPECT_EQ(runtime->method_count(), 37);
  EXPECT_EQ(image->method_count(), 6);
  EXPECT_STREQ(runtime::v1::RuntimeService::service_full_name(), "runtime.v1.RuntimeService");
  EXPECT_STREQ(runtime::v1::ImageService::service_full_name(), "runtime.v1.ImageService");
}

TEST(ApiProtoTest, StreamingRpcsAreServerStreaming) {
  const ServiceDescriptor* runtime = Pool().FindServiceByName("runtime.v1.RuntimeService");
  ASSERT_NE(runtime, nullptr);
  for (const char* name : {"StreamPodSandboxes", "StreamContainers", "StreamContainerStats",
                           "StreamPodSandboxStats", "StreamPodSandboxMetrics",
                           "GetContainerEvents"}) {
    const auto* method = runtime->FindMethodByName(name);
    ASSERT_NE(method, nullptr) << name;
    EXPECT_TRUE(method->server_streaming()) << name;
    EXPECT_FALSE(method->client_streaming()) << name;
  }
  const auto* version = runtime->FindMethodByName("Version");
  ASSERT_NE(version, nullptr);
  EXPECT_FALSE(version->server_streaming());
}

TEST(ApiProtoTest, FieldNumbersMatchUpstreamWire) {
  EXPECT_EQ(FieldNumber("ContainerStatus", "image_id"), 17);
  EXPECT_EQ(FieldNumber("ContainerStatus", "stop_signal"), 19);
  EXPECT_EQ(FieldNumber("PodSandboxStatus", "runtime_handler"), 9);
  EXPECT_EQ(FieldNumber("ImageSpec", "user_specified_image"), 18);
  EXPECT_EQ(FieldNumber("ImageSpec", "image_ref"), 20);
  EXPECT_EQ(FieldNumber("LinuxSandboxSecurityContext", "run_as_group"), 8);
  EXPECT_EQ(FieldNumber("LinuxContainerSecurityContext", "supplemental_groups_policy"), 17);
  EXPECT_EQ(FieldNumber("LinuxContainerResources", "memory_swap_limit_in_bytes"), 10);
  EXPECT_EQ(FieldNumber("Mount", "uidMappings"), 6);
  EXPECT_EQ(FieldNumber("Mount", "mount_options"), 11);
  EXPECT_EQ(FieldNumber("RuntimeFeatures", "mount_options"), 3);
  EXPECT_EQ(FieldNumber("ContainerConfig", "CDI_devices"), 17);
}

TEST(ApiProtoTest, EnvValuesAreBytes) {
  const auto* kv = Pool().FindMessageTypeByName("runtime.v1.KeyValue");
  ASSERT_NE(kv, nullptr);
  const FieldDescriptor* value = kv->FindFieldByName("value");
  ASSERT_NE(value, nullptr);
  EXPECT_EQ(value->type(), FieldDescriptor::TYPE_BYTES);
}

TEST(ApiProtoTest, EnumValues) {
  const EnumDescriptor* driver = Pool().FindEnumTypeByName("runtime.v1.CgroupDriver");
  ASSERT_NE(driver, nullptr);
  ASSERT_NE(driver->FindValueByName("SYSTEMD"), nullptr);
  ASSERT_NE(driver->FindValueByName("CGROUPFS"), nullptr);
  EXPECT_EQ(driver->FindValueByName("SYSTEMD")->number(), 0);
  EXPECT_EQ(driver->FindValueByName("CGROUPFS")->number(), 1);

  // Prefixed names keep <signal.h> macros from clashing; numbers are upstream's.
  EXPECT_EQ(runtime::v1::SIGNAL_SIGKILL, 13);
  EXPECT_EQ(runtime::v1::SIGNAL_SIGTERM, 23);
  EXPECT_EQ(runtime::v1::SIGNAL_SIGRTMAX, 65);
  EXPECT_EQ(runtime::v1::CONTAINER_EXITED, 2);
  EXPECT_EQ(runtime::v1::SANDBOX_NOTREADY, 1);
}

TEST(ApiProtoTest, MessagesRoundTripOnTheWire) {
  runtime::v1::ContainerStatus status;
  status.set_id("abc");
  status.set_image_id("sha256:1234");
  status.set_stop_signal(runtime::v1::SIGNAL_SIGKILL);
  (*status.mutable_labels())["io.kubernetes.pod.name"] = "web";
  status.add_mounts()->add_mount_options("noexec");

  std::string wire;
  ASSERT_TRUE(status.SerializeToString(&wire));
  runtime::v1::ContainerStatus parsed;
  ASSERT_TRUE(parsed.ParseFromString(wire));
  EXPECT_EQ(parsed.id(), "abc");
  EXPECT_EQ(parsed.image_id(), "sha256:1234");
  EXPECT_EQ(parsed.stop_signal(), runtime::v1::SIGNAL_SIGKILL);
  EXPECT_EQ(parsed.labels().at("io.kubernetes.pod.name"), "web");
  ASSERT_EQ(parsed.mounts_size(), 1);
  EXPECT_EQ(parsed.mounts(0).mount_options(0), "noexec");
}

}  // namespace
