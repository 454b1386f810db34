#include "flist-snapshotter/pack/block_uploader.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "gtest/gtest.h"

namespace flint::flist {
namespace {

// An in-memory store that can be made slow or failing, to observe the
// uploader's concurrency and error handling.
class MemoryStore : public BlockStore {
 public:
  absl::StatusOr<std::string> Get(std::string_view id) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = blocks_.find(std::string(id));
    if (it == blocks_.end()) return absl::NotFoundError("missing");
    return it->second;
  }
  absl::Status Put(std::string_view id, std::string_view data) override {
    std::unique_lock<std::mutex> lock(mu_);
    if (wait_for_concurrent > 0 && !released_) {
      // Hold each Put until enough run at once (or give up after 10 s).
      ++in_flight_;
      max_in_flight_ = std::max(max_in_flight_, in_flight_);
      changed_.notify_all();
      changed_.wait_for(lock, std::chrono::seconds(10),
                        [&] { return released_ || in_flight_ >= wait_for_concurrent; });
      released_ = true;
      changed_.notify_all();
      --in_flight_;
    }
    if (fail_after >= 0 && puts_ >= fail_after) return absl::UnavailableError("disk on fire");
    ++puts_;
    blocks_[std::string(id)] = std::string(data);
    return absl::OkStatus();
  }
  absl::StatusOr<bool> Exists(std::string_view id) override {
    std::lock_guard<std::mutex> lock(mu_);
    return blocks_.contains(std::string(id));
  }
  std::string Describe() const override { return "memory"; }
  int puts() {
    std::lock_guard<std::mutex> lock(mu_);
    return puts_;
  }

  int max_in_flight() {
    std::lock_guard<std::mutex> lock(mu_);
    return max_in_flight_;
  }

  int wait_for_concurrent = 0;
  int fail_after = -1;

 private:
  std::mutex mu_;
  std::condition_variable changed_;
  int in_flight_ = 0;
  int max_in_flight_ = 0;
  bool released_ = false;
  std::map<std::string, std::string> blocks_;
  int puts_ = 0;
};

BlockUploader::ReadFn ReaderOf(const std::string& data) {
  auto offset = std::make_shared<size_t>(0);
  return [&data, offset](char* buf, size_t n) -> absl::StatusOr<size_t> {
    size_t take = std::min(n, data.size() - *offset);
    std::memcpy(buf, data.data() + *offset, take);
    *offset += take;
    return take;
  };
}

std::string RandomBytes(size_t n) {
  std::mt19937 rng(11);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

TEST(BlockUploaderTest, UploadsInParallelAndDecodes) {
  MemoryStore store;
  store.wait_for_concurrent = 3;
  const std::string data = RandomBytes(5 * kBlockSize + 5);
  BlockUploader uploader(store, 8);
  uint64_t total = 0;
  auto blocks = uploader.Upload(ReaderOf(data), &total);
  ASSERT_TRUE(blocks.ok()) << blocks.status();
  ASSERT_TRUE(uploader.Finish().ok());
  EXPECT_EQ(total, data.size());
  ASSERT_EQ(blocks->size(), 6u);
  EXPECT_EQ(store.puts(), 6);
  EXPECT_EQ(uploader.uploaded(), 6u);
  EXPECT_GE(store.max_in_flight(), 3);  // puts overlapped
  for (size_t i = 0; i < blocks->size(); ++i) {
    auto plain = DecodeBlock(BlockFormat::kV2, (*blocks)[i].id, (*blocks)[i].key, *store.Get((*blocks)[i].id));
    ASSERT_TRUE(plain.ok());
    EXPECT_TRUE(*plain == data.substr(i * kBlockSize, kBlockSize));
  }
}

TEST(BlockUploaderTest, SkipsBlocksTheStoreHas) {
  MemoryStore store;
  const std::string data(3 * kBlockSize, 'x');  // three identical blocks
  {
    BlockUploader uploader(store);
    uint64_t total = 0;
    auto blocks = uploader.Upload(ReaderOf(data), &total);
    ASSERT_TRUE(blocks.ok());
    ASSERT_TRUE(uploader.Finish().ok());
    EXPECT_EQ(blocks->size(), 3u);
    EXPECT_EQ(uploader.uploaded(), 1u);
  }
  BlockUploader again(store);
  uint64_t total = 0;
  ASSERT_TRUE(again.Upload(ReaderOf(data), &total).ok());
  ASSERT_TRUE(again.Finish().ok());
  EXPECT_EQ(again.uploaded(), 0u);
  EXPECT_EQ(store.puts(), 1);
}

TEST(BlockUploaderTest, ReportsStoreFailures) {
  MemoryStore store;
  store.fail_after = 2;
  const std::string data = RandomBytes(12 * kBlockSize);
  BlockUploader uploader(store, 4);
  uint64_t total = 0;
  auto blocks = uploader.Upload(ReaderOf(data), &total);
  absl::Status finished = uploader.Finish();
  // The failure surfaces either while queueing or when finishing.
  const absl::Status& s = blocks.ok() ? finished : blocks.status();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(s.message().find("disk on fire"), std::string::npos) << s;
  EXPECT_FALSE(finished.ok());
}

TEST(BlockUploaderTest, ReadErrorsPropagate) {
  MemoryStore store;
  BlockUploader uploader(store);
  uint64_t total = 0;
  auto blocks = uploader.Upload([](char*, size_t) -> absl::StatusOr<size_t> { return absl::DataLossError("bad read"); },
                                &total);
  EXPECT_EQ(blocks.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(uploader.Finish().ok());
}

}  // namespace
}  // namespace flint::flist
