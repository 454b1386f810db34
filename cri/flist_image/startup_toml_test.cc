#include "cri/flist_image/startup_toml.h"

#include <gtest/gtest.h>

namespace flint::flist_image {
namespace {

TEST(StartupTomlTest, HubDockerConverterForm) {
  absl::StatusOr<StartupConfig> c = ParseStartupToml(R"([startup]

[startup.entry]
name = "core.system"

[startup.entry.args]
name = "/usr/local/bin/redis-server"
args = ["--port", "6379", "--save", ""]
dir = "/data"

[startup.entry.args.env]
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
REDIS_VERSION = "7.2.4"
)");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->program, "/usr/local/bin/redis-server");
  EXPECT_EQ(c->args, (std::vector<std::string>{"--port", "6379", "--save", ""}));
  EXPECT_EQ(c->dir, "/data");
  EXPECT_EQ(c->env.at("REDIS_VERSION"), "7.2.4");
  EXPECT_EQ(c->env.size(), 2u);
}

TEST(StartupTomlTest, InlineEnvAndEscapes) {
  absl::StatusOr<StartupConfig> c = ParseStartupToml(
      "[startup.entry.args]\nname = \"/bin/sh\"\nargs = [\"-c\", \"echo \\\"hi\\\"\\n\",]\n"
      "env = {A = \"1\", \"B\" = \"two\"}  # comment\n");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->program, "/bin/sh");
  EXPECT_EQ(c->args, (std::vector<std::string>{"-c", "echo \"hi\"\n"}));
  EXPECT_EQ(c->env.at("B"), "two");
  EXPECT_EQ(c->dir, "");
}

TEST(StartupTomlTest, ErrorsNameTheLine) {
  absl::StatusOr<StartupConfig> c = ParseStartupToml("[startup.entry.args]\nname = \"unterminated\n");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("line 2"), std::string::npos) << c.status();
  EXPECT_FALSE(ParseStartupToml("[startup.entry.args]\nargs = [\"a\" \"b\"]\n").ok());
}

TEST(StartupTomlTest, EmptyFileHasNoCommand) {
  absl::StatusOr<StartupConfig> c = ParseStartupToml("");
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->program.empty());
  EXPECT_TRUE(c->args.empty());
}

// What a TOML writer may also produce: arrays over several lines (with comments and a trailing
// comma), and keys of other kinds in sections that are not ours.
TEST(StartupTomlTest, MultiLineArraysAndOtherValuesElsewhere) {
  absl::StatusOr<StartupConfig> c = ParseStartupToml(R"([startup]
ports = [80, 443]
limits = { cpu = 2, memory = "1G" }
[startup.entry]
name = "core.system"
after = [
  "net",
]
[startup.entry.args]
name = "/bin/sh"
args = [
  "-c",   # the shell's flag
  "echo [#not a comment]",
]
env = { A = "1",
        B = "2" }
)");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->program, "/bin/sh");
  EXPECT_EQ(c->args, (std::vector<std::string>{"-c", "echo [#not a comment]"}));
  EXPECT_EQ(c->env.at("B"), "2");
  // An array that never closes is still an error, naming where it began.
  c = ParseStartupToml("[startup.entry.args]\nargs = [\n\"-c\",\n");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("line 2"), std::string::npos) << c.status();
}

// Valid TOML in keys that are not ours must not fail a container: multi-line strings (holding
// brackets, quotes and '#'), arrays of tables, nested arrays, numbers, booleans and dates.
TEST(StartupTomlTest, AnyValidTomlElsewhereIsSkipped) {
  absl::StatusOr<StartupConfig> c = ParseStartupToml(R"(title = """
a [multi-line] "string" # not a comment
with { braces """
notes = '''
raw \n [ text'''
when = 1979-05-27 07:32:00Z
ratio = 6.5e-3
big = 1_000
on = true
matrix = [[1, 2], ["a", ["b"]], [{ x = 1 }]]

[[mounts]]
path = "/data"
[[mounts]]
path = "/logs"

[startup.entry.args]
name = "/bin/sh"
args = ["-c", "exit 0"]
stdin = false
)");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->program, "/bin/sh");
  EXPECT_EQ(c->args, (std::vector<std::string>{"-c", "exit 0"}));
}

// Our keys written the other ways TOML allows: dotted keys, quoted keys, literal and multi-line
// strings, unicode escapes; a table in an array that merely shares our name is not ours.
TEST(StartupTomlTest, OurKeysInEveryTomlSpelling) {
  absl::StatusOr<StartupConfig> c = ParseStartupToml(R"([startup]
entry.args.name = '/usr/bin/env'
"entry" . 'args'.dir = "/w\u00e9rk"

[startup.entry.args]
args = [
  """
multi
line""",
  'C:\literal',
]
env.LANG = "C.UTF-8"
env."MY VAR" = "\U0001F600"

[[startup.entry.args]]
name = "/not/ours"
)");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->program, "/usr/bin/env");
  EXPECT_EQ(c->dir, "/w\xc3\xa9rk");
  EXPECT_EQ(c->args, (std::vector<std::string>{"multi\nline", "C:\\literal"}));
  EXPECT_EQ(c->env.at("LANG"), "C.UTF-8");
  EXPECT_EQ(c->env.at("MY VAR"), "\xf0\x9f\x98\x80");
  EXPECT_EQ(c->env.size(), 2u);
}

// Our keys with the wrong kind of value are errors naming the key and the line; a line-ending
// backslash in a multi-line string joins the lines.
TEST(StartupTomlTest, OurKeysMustHoldStrings) {
  absl::StatusOr<StartupConfig> c = ParseStartupToml("[startup.entry.args]\n\nargs = [\"-c\", 3]\n");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("line 3"), std::string::npos) << c.status();
  EXPECT_NE(c.status().message().find("startup.entry.args.args"), std::string::npos) << c.status();
  EXPECT_FALSE(ParseStartupToml("[startup.entry.args]\nname = [\"/bin/sh\"]\n").ok());
  EXPECT_FALSE(ParseStartupToml("[startup.entry.args]\nenv = \"A=1\"\n").ok());
  EXPECT_FALSE(ParseStartupToml("[startup.entry.args.env]\nA = 1\n").ok());
  EXPECT_FALSE(ParseStartupToml("[startup.entry.args]\nname = \"/bin/sh\" trailing\n").ok());

  c = ParseStartupToml("[startup.entry.args]\nname = \"\"\"/usr/\\\n    bin/sh\"\"\"\n");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->program, "/usr/bin/sh");
}

}  // namespace
}  // namespace flint::flist_image
