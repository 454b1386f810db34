#include "flist-snapshotter/flist/capnp_reader.h"

#include <cstring>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace flint::flist::capnp {
namespace {

using Segment = std::vector<uint64_t>;

uint64_t StructPtr(int32_t offset, uint16_t data, uint16_t ptrs) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(offset) << 2)) | (uint64_t{data} << 32) |
         (uint64_t{ptrs} << 48);
}
uint64_t ListPtr(int32_t offset, uint8_t elem_size, uint32_t count) {
  return 1 | (static_cast<uint64_t>(static_cast<uint32_t>(offset) << 2)) |
         (uint64_t{elem_size} << 32) | (uint64_t{count} << 35);
}
uint64_t FarPtr(bool double_far, uint32_t pad, uint32_t segment) {
  return 2 | (double_far ? 4 : 0) | (uint64_t{pad} << 3) | (uint64_t{segment} << 32);
}
uint64_t TextWord(const char* s) {
  uint64_t w = 0;
  std::memcpy(&w, s, std::strlen(s) + 1);
  return w;
}

std::string Serialize(const std::vector<Segment>& segments) {
  std::string out;
  auto put32 = [&](uint32_t v) { out.append(reinterpret_cast<const char*>(&v), 4); };
  put32(static_cast<uint32_t>(segments.size() - 1));
  for (const auto& s : segments) put32(static_cast<uint32_t>(s.size()));
  if (out.size() % 8 != 0) put32(0);
  for (const auto& s : segments) out.append(reinterpret_cast<const char*>(s.data()), s.size() * 8);
  return out;
}

TEST(CapnpReaderTest, StructWithDataAndText) {
  std::string bytes = Serialize({{StructPtr(0, 1, 2), 0x0000000500001234ULL, ListPtr(1, 2, 3),
                                  0 /* null */, TextWord("hi")}});
  auto msg = Message::Parse(bytes);
  ASSERT_TRUE(msg.ok()) << msg.status();
  auto root = msg->Root();
  ASSERT_TRUE(root.ok()) << root.status();
  EXPECT_EQ(root->U16(0), 0x1234);
  EXPECT_EQ(root->U32(4), 5u);
  EXPECT_EQ(root->U64(8), 0u);  // beyond the data section: default
  EXPECT_EQ(*root->Text(0), "hi");
  EXPECT_EQ(*root->Text(1), "");  // null pointer
  EXPECT_EQ(*root->Text(7), "");  // beyond the pointer section
}

TEST(CapnpReaderTest, CompositeList) {
  std::string bytes = Serialize({{StructPtr(0, 0, 1), ListPtr(0, 7, 2), StructPtr(2, 1, 0), 10, 20}});
  auto msg = Message::Parse(bytes);
  ASSERT_TRUE(msg.ok());
  auto root = msg->Root();
  ASSERT_TRUE(root.ok());
  auto list = root->StructList(0);
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].U64(0), 10u);
  EXPECT_EQ((*list)[1].U64(0), 20u);
}

TEST(CapnpReaderTest, FarAndDoubleFarPointers) {
  // Root -> far -> segment 1 landing pad -> struct with one pointer, which is a
  // double-far into segment 2 (pad) describing a struct in segment 3.
  std::string bytes = Serialize({
      {FarPtr(false, 0, 1)},
      {StructPtr(0, 1, 1), 42, FarPtr(true, 0, 2)},
      {FarPtr(false, 1, 3), StructPtr(0, 1, 0)},
      {0, 7},
  });
  auto msg = Message::Parse(bytes);
  ASSERT_TRUE(msg.ok()) << msg.status();
  auto root = msg->Root();
  ASSERT_TRUE(root.ok()) << root.status();
  EXPECT_EQ(root->U64(0), 42u);
  auto inner = root->StructField(0);
  ASSERT_TRUE(inner.ok()) << inner.status();
  EXPECT_EQ(inner->U64(0), 7u);
}

TEST(CapnpReaderTest, RejectsMalformedMessages) {
  EXPECT_FALSE(Message::Parse("abc").ok());
  // Segment table claims more words than present.
  std::string truncated = Serialize({{StructPtr(0, 1, 0), 1}});
  truncated.resize(truncated.size() - 8);
  EXPECT_FALSE(Message::Parse(truncated).ok());
  // Struct pointing past the segment end.
  const std::string out_of_bounds = Serialize({{StructPtr(100, 1, 0)}});
  auto far_out = Message::Parse(out_of_bounds);
  ASSERT_TRUE(far_out.ok());
  EXPECT_FALSE(far_out->Root().ok());
  // Far pointer to a missing segment.
  const std::string missing_segment = Serialize({{FarPtr(false, 0, 5)}});
  auto missing = Message::Parse(missing_segment);
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->Root().ok());
  // Text without its NUL terminator.
  const std::string unterminated = Serialize({{StructPtr(0, 0, 1), ListPtr(0, 2, 2), TextWord("hi")}});
  auto text = Message::Parse(unterminated);
  ASSERT_TRUE(text.ok());
  EXPECT_FALSE(text->Root()->Text(0).ok());
  // A byte list where a struct list is expected.
  const std::string byte_list = Serialize({{StructPtr(0, 0, 1), ListPtr(0, 2, 2), 0}});
  auto list = Message::Parse(byte_list);
  ASSERT_TRUE(list.ok());
  EXPECT_FALSE(list->Root()->StructList(0).ok());
}

}  // namespace
}  // namespace flint::flist::capnp
