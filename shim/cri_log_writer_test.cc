#include "shim/cri_log_writer.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

namespace flint::shim {
namespace {

struct Record {
  std::string time, stream, tag, content;
};

std::vector<Record> ParseLog(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string data = ss.str();
  std::vector<Record> out;
  size_t pos = 0;
  while (pos < data.size()) {
    size_t end = data.find('\n', pos);
    EXPECT_NE(end, std::string::npos) << "record not newline-terminated";
    if (end == std::string::npos) break;
    std::string line = data.substr(pos, end - pos);
    pos = end + 1;
    Record r;
    size_t a = line.find(' '), b = line.find(' ', a + 1), c = line.find(' ', b + 1);
    r.time = line.substr(0, a);
    r.stream = line.substr(a + 1, b - a - 1);
    r.tag = line.substr(b + 1, c - b - 1);
    r.content = line.substr(c + 1);
    out.push_back(r);
  }
  return out;
}

class CriLogWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir_template[] = "/tmp/shim-log-XXXXXX";
    ASSERT_NE(mkdtemp(dir_template), nullptr);
    dir_ = dir_template;
    path_ = dir_ + "/0.log";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_, path_;
};

TEST(FormatTimestampTest, Rfc3339NanoUtc) {
  EXPECT_EQ(FormatRfc3339NanoUtc(1475713029669794202), "2016-10-06T00:17:09.669794202Z");
  EXPECT_EQ(FormatRfc3339NanoUtc(0), "1970-01-01T00:00:00.000000000Z");
}

TEST_F(CriLogWriterTest, WritesFullLinesPerStream) {
  CriLogWriter w([] { return int64_t{1475713029669794202}; });
  std::string error;
  ASSERT_TRUE(w.Open(path_, &error)) << error;
  w.Write(LogStream::kStdout, "hello\nwor");
  w.Write(LogStream::kStderr, "oops\n");
  w.Write(LogStream::kStdout, "ld\n\n");
  auto records = ParseLog(path_);
  ASSERT_EQ(records.size(), 4u);
  EXPECT_EQ(records[0].time, "2016-10-06T00:17:09.669794202Z");
  EXPECT_EQ(records[0].stream, "stdout");
  EXPECT_EQ(records[0].tag, "F");
  EXPECT_EQ(records[0].content, "hello");
  EXPECT_EQ(records[1].stream, "stderr");
  EXPECT_EQ(records[1].content, "oops");
  EXPECT_EQ(records[2].content, "world");
  EXPECT_EQ(records[3].tag, "F");
  EXPECT_EQ(records[3].content, "");
}

TEST_F(CriLogWriterTest, SplitsLongLinesAndFlushesTailAtClose) {
  CriLogWriter w;
  std::string error;
  ASSERT_TRUE(w.Open(path_, &error)) << error;
  const size_t max = CriLogWriter::kMaxRecordBytes;
  std::string long_line(2 * max + 100, 'x');
  // Deliver it in odd-sized chunks, like a pipe would.
  for (size_t off = 0; off < long_line.size(); off += 1000) w.Write(LogStream::kStdout, long_line.substr(off, 1000));
  w.Write(LogStream::kStdout, "\n");
  w.Write(LogStream::kStdout, std::string(max, 'y') + "\n");  // exactly max: one F record
  w.Write(LogStream::kStdout, "tail");
  w.CloseStream(LogStream::kStdout);
  auto records = ParseLog(path_);
  ASSERT_EQ(records.size(), 5u);
  EXPECT_EQ(records[0].tag, "P");
  EXPECT_EQ(records[0].content.size(), max);
  EXPECT_EQ(records[1].tag, "P");
  EXPECT_EQ(records[1].content.size(), max);
  EXPECT_EQ(records[2].tag, "F");
  EXPECT_EQ(records[2].content, std::string(100, 'x'));
  EXPECT_EQ(records[3].tag, "F");
  EXPECT_EQ(records[3].content, std::string(max, 'y'));
  EXPECT_EQ(records[4].tag, "F");
  EXPECT_EQ(records[4].content, "tail");
}

TEST_F(CriLogWriterTest, ReopenCreatesNewFileAndRefusesSymlinks) {
  CriLogWriter w;
  std::string error;
  ASSERT_TRUE(w.Open(path_, &error)) << error;
  w.Write(LogStream::kStdout, "one\n");
  std::filesystem::rename(path_, path_ + ".1");
  ASSERT_TRUE(w.Reopen(&error)) << error;
  ASSERT_TRUE(std::filesystem::exists(path_));
  w.Write(LogStream::kStdout, "two\n");
  EXPECT_EQ(ParseLog(path_ + ".1").size(), 1u);
  ASSERT_EQ(ParseLog(path_).size(), 1u);
  EXPECT_EQ(ParseLog(path_)[0].content, "two");

  std::filesystem::create_symlink(dir_ + "/elsewhere", dir_ + "/link.log");
  CriLogWriter other;
  EXPECT_FALSE(other.Open(dir_ + "/link.log", &error));
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/elsewhere"));
}

}  // namespace
}  // namespace flint::shim
