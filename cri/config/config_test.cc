#include "cri/config/config.h"

#include <gtest/gtest.h>

namespace flint {
namespace {

TEST(ConfigTest, DefaultConfigYamlParsesToDefaults) {
  absl::StatusOr<Config> parsed = ParseConfig(DefaultConfigYaml(), "default");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  Config defaults;
  EXPECT_EQ(parsed->root_dir, defaults.root_dir);
  EXPECT_EQ(parsed->socket, "/run/flint/flint.sock");
  EXPECT_EQ(parsed->cgroup_driver, CgroupDriver::kCgroupfs);
  EXPECT_EQ(parsed->default_runtime, "runc");
  ASSERT_TRUE(parsed->runtimes.contains("crun"));
  EXPECT_EQ(parsed->runtimes.at("crun").path, "/usr/bin/crun");
  EXPECT_EQ(parsed->registry.max_concurrent_downloads, 3);
  EXPECT_EQ(parsed->cni.bin_dirs, defaults.cni.bin_dirs);
  EXPECT_EQ(ConfigToJson(*parsed), ConfigToJson(defaults));
}

TEST(ConfigTest, EmptyDocumentGivesDefaults) {
  absl::StatusOr<Config> parsed = ParseConfig("", "empty");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(ConfigToJson(*parsed), ConfigToJson(Config{}));
}

TEST(ConfigTest, ReadsEverySection) {
  absl::StatusOr<Config> c = ParseConfig(R"(
root_dir: /tmp/r
state_dir: /tmp/s
socket: /tmp/s/f.sock
log_level: debug
cgroup_driver: systemd
default_runtime: crun
runtimes:
  crun: {path: /usr/bin/crun, args: [--debug]}
  kata: {path: /opt/kata/bin/kata-runtime, sealed_copy: false}
registry:
  mirrors:
    registry.k8s.io: ["http://127.0.0.1:5055"]
    docker.io: ["https://mirror.example:443", "http://127.0.0.1:5055"]
  insecure: ["127.0.0.1:5055"]
  max_concurrent_downloads: 5
pinned_images: [registry.k8s.io/pause:3.10]
cni: {conf_dir: /tmp/cni, bin_dirs: [/tmp/bin]}
flist: {hubs: [http://127.0.0.1:8080], default_store: "redis://127.0.0.1:6379", prefetch_blocks: 2,
        open_prefetch_blocks: 0, spare_mount: false, mount_idle_seconds: 0,
        max_idle_mounts: 3,
        hub_stores: {"127.0.0.1:8080": "dir:///srv/blocks", hub.example.com: "zdb://zdb.example.com:9900/ns"},
        allowed_stores: [zdb://hub.grid.tf, "dir:///srv/blocks"]}
streaming_address: 127.0.0.1:10010
)",
                                         "t.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->state_dir, "/tmp/s");
  EXPECT_EQ(c->cgroup_driver, CgroupDriver::kSystemd);
  EXPECT_EQ(c->runtimes.size(), 2u);
  EXPECT_EQ(c->runtimes.at("crun").args, std::vector<std::string>{"--debug"});
  EXPECT_TRUE(c->runtimes.at("crun").sealed_copy);
  EXPECT_FALSE(c->runtimes.at("kata").sealed_copy);
  EXPECT_EQ(c->registry.mirrors.at("docker.io").size(), 2u);
  EXPECT_EQ(c->registry.insecure, std::vector<std::string>{"127.0.0.1:5055"});
  EXPECT_EQ(c->registry.max_concurrent_downloads, 5);
  EXPECT_EQ(c->pinned_images.size(), 1u);
  EXPECT_EQ(c->cni.conf_dir, "/tmp/cni");
  EXPECT_EQ(c->flist.default_store, "redis://127.0.0.1:6379");
  EXPECT_EQ(c->flist.prefetch_blocks, 2);
  EXPECT_EQ(c->flist.open_prefetch_blocks, 0);
  EXPECT_EQ(c->flist.mount_idle_seconds, 0);
  EXPECT_EQ(c->flist.max_idle_mounts, 3);
  EXPECT_EQ(c->flist.hub_stores, (std::map<std::string, std::string>{
                                     {"127.0.0.1:8080", "dir:///srv/blocks"},
                                     {"hub.example.com", "zdb://zdb.example.com:9900/ns"}}));
  EXPECT_EQ(c->flist.allowed_stores, (std::vector<std::string>{"zdb://hub.grid.tf", "dir:///srv/blocks"}));
  EXPECT_EQ(c->streaming_address, "127.0.0.1:10010");
}

struct BadCase {
  const char* yaml;
  const char* expected;  // substring of the error
};

class ConfigErrorTest : public testing::TestWithParam<BadCase> {};

TEST_P(ConfigErrorTest, NamesKeyLineAndReason) {
  absl::StatusOr<Config> c = ParseConfig(GetParam().yaml, "flint.yaml");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(c.status().message().find(GetParam().expected), std::string::npos) << c.status();
}

INSTANTIATE_TEST_SUITE_P(
    Bad, ConfigErrorTest,
    testing::Values(BadCase{"root_dir: /a\nrootdir: /b\n", "flint.yaml:2: rootdir: unknown key"},
                    BadCase{"registry:\n  mirrors: {}\n  bogus: 1\n", "flint.yaml:3: registry.bogus: unknown key"},
                    BadCase{"cgroup_driver: cgroupv3\n", "flint.yaml:1: cgroup_driver: must be cgroupfs or systemd"},
                    BadCase{"log_level: loud\n", "flint.yaml:1: log_level: unknown log level"},
                    BadCase{"root_dir: relative/path\n", "root_dir: must be an absolute path"},
                    BadCase{"registry:\n  max_concurrent_downloads: many\n",
                            "flint.yaml:2: registry.max_concurrent_downloads: must be an integer"},
                    BadCase{"registry:\n  max_concurrent_downloads: 0\n", "must be between 1 and 64"},
                    BadCase{"registry:\n  mirrors:\n    docker.io: [\"127.0.0.1:5055\"]\n",
                            "registry.mirrors.docker.io: endpoint \"127.0.0.1:5055\" must start with http"},
                    BadCase{"flist:\n  prefetch_blocks: -1\n", "flist.prefetch_blocks: must be between 0 and 256"},
                    BadCase{"flist:\n  max_idle_mounts: -1\n", "flist.max_idle_mounts: must be between 0 and 4096"},
                    BadCase{"flist:\n  hub_stores:\n    hub.example.com: hub.example.com:9900\n",
                            "flint.yaml:3: flist.hub_stores.hub.example.com: \"hub.example.com:9900\" is not a store URL"},
                    BadCase{"flist:\n  hub_stores:\n    https://hub.example.com: zdb://hub.example.com\n",
                            "flist.hub_stores.https://hub.example.com: must be a hub host"},
                    BadCase{"flist:\n  allowed_stores: [hub.grid.tf]\n",
                            "flint.yaml:2: flist.allowed_stores: \"hub.grid.tf\" is not a store URL"},
                    BadCase{"flist:\n  allowed_stores: [\"zdb://u:p@hub.grid.tf\"]\n",
                            "flist.allowed_stores: \"zdb://u:p@hub.grid.tf\": leave credentials out"},
                    BadCase{"flist:\n  allowed_stores: zdb://hub.grid.tf\n",
                            "flist.allowed_stores: must be a list of block store URLs"},
                    BadCase{"flist:\n  hub_stores: [zdb://hub.example.com]\n",
                            "flist.hub_stores: must be a mapping of hub host to a block store URL"},
                    BadCase{"default_runtime: kata\n", "default_runtime: \"kata\" is not one of the configured runtimes"},
                    BadCase{"runtimes:\n  kata: {args: []}\n", "runtimes.kata.path: is required"},
                    BadCase{"socket: [a, b]\n", "flint.yaml:1: socket: must be a path"},
                    BadCase{"root_dir: /a\n  : : bad\n\t- x", "malformed YAML"},
                    BadCase{"- just\n- a list\n", "(top level): must be a mapping"}),
    [](const testing::TestParamInfo<BadCase>& info) { return std::to_string(info.index); });

}  // namespace
}  // namespace flint
