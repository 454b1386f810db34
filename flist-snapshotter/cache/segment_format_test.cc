#include "flist-snapshotter/cache/segment_format.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "gtest/gtest.h"

namespace flint::flist::segment_format {
namespace {

class SegmentRecordTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char path[] = "/tmp/segment-format-test-XXXXXX";
    fd_ = mkstemp(path);
    ASSERT_GE(fd_, 0);
    unlink(path);
  }
  void TearDown() override { close(fd_); }
  void Write(const std::string& bytes, uint64_t offset) {
    ASSERT_EQ(pwrite(fd_, bytes.data(), bytes.size(), static_cast<off_t>(offset)), static_cast<ssize_t>(bytes.size()));
  }
  int fd_ = -1;
};

TEST_F(SegmentRecordTest, RecordHeadersReadBackAtTheirOffsets) {
  const std::string id(32, '\x11');
  const std::string first = EncodeRecordHeader(id, "key one", 5) + "hello";
  const std::string second = EncodeRecordHeader("short id", "key two", 3) + "abc";
  Write(first + second, 0);
  RecordHeader h;
  std::string why;
  ASSERT_TRUE(ReadRecordHeader(fd_, 0, &h, &why)) << why;
  EXPECT_EQ(h.id, id);
  EXPECT_EQ(h.plain_length, 5u);
  EXPECT_EQ(h.key_digest, KeyDigest("key one"));
  EXPECT_EQ(h.header_bytes, kRecordFixedBytes + 32);
  ASSERT_TRUE(ReadRecordHeader(fd_, first.size(), &h, &why)) << why;
  EXPECT_EQ(h.id, "short id");
  EXPECT_EQ(h.plain_length, 3u);
  EXPECT_NE(h.key_digest, KeyDigest("key one"));
}

TEST_F(SegmentRecordTest, WhatIsNotARecordHeaderIsRefused) {
  const std::string header = EncodeRecordHeader("an id", "a key", 10);
  RecordHeader h;
  std::string why;
  // Past the end, and cut inside the fixed part or the id.
  EXPECT_FALSE(ReadRecordHeader(fd_, 0, &h, &why));
  EXPECT_EQ(why, "record header cut short");
  Write(header.substr(0, header.size() - 2), 0);
  EXPECT_FALSE(ReadRecordHeader(fd_, 0, &h, &why));
  EXPECT_EQ(why, "record header cut short");
  // Zeros (a crash before writeback) and other bytes.
  Write(std::string(200, '\0'), 1000);
  EXPECT_FALSE(ReadRecordHeader(fd_, 1000, &h, &why));
  EXPECT_EQ(why, "bad magic");
  // An id length no record has.
  std::string huge = header;
  huge[16 + 2] = 1;  // id length 65541
  Write(huge, 2000);
  EXPECT_FALSE(ReadRecordHeader(fd_, 2000, &h, &why));
  EXPECT_EQ(why, "an id of 65541 bytes");
}

TEST(PointerTargetTest, RoundTripsSegmentAndOffset) {
  std::string segment;
  uint64_t offset = 0;
  ASSERT_TRUE(ParsePointerTarget(PointerTarget("123-456-7.seg", 1048576), &segment, &offset));
  EXPECT_EQ(segment, "123-456-7.seg");
  EXPECT_EQ(offset, 1048576u);
  ASSERT_TRUE(ParsePointerTarget("x.seg:18446744073709551615", &segment, &offset));
  EXPECT_EQ(offset, UINT64_MAX);
}

// A pointer names a file in the segments directory and nothing else.
TEST(PointerTargetTest, AnythingButASegmentAndAnOffsetIsRefused) {
  std::string segment;
  uint64_t offset = 0;
  for (const char* bad : {"../../etc/passwd.seg:0", "a/b.seg:1", "/abs.seg:1", ".hidden.seg:1", ".seg:1",
                          "x.seg:", "x.seg", ":5", "x.txt:5", "x.seg:1a", "x.seg:-1", "x.seg:18446744073709551616",
                          "x.seg: 1", ""}) {
    EXPECT_FALSE(ParsePointerTarget(bad, &segment, &offset)) << bad;
  }
}

}  // namespace
}  // namespace flint::flist::segment_format
