#include "flist-snapshotter/util/repeat_limiter.h"

#include <gtest/gtest.h>

namespace flint::flist {
namespace {

using std::chrono::seconds;

TEST(RepeatLimiterTest, OnePerKeyPerIntervalWithTheCountHeldBack) {
  RepeatLimiter limiter(seconds(10));
  const RepeatLimiter::Clock::time_point t0{};
  uint64_t held = 99;
  EXPECT_TRUE(limiter.Allow("a", t0, &held));
  EXPECT_EQ(held, 0u);
  EXPECT_FALSE(limiter.Allow("a", t0 + seconds(1), &held));
  EXPECT_FALSE(limiter.Allow("a", t0 + seconds(9), &held));
  EXPECT_TRUE(limiter.Allow("b", t0 + seconds(9), &held)) << "keys are limited apart";
  EXPECT_EQ(held, 0u);
  EXPECT_TRUE(limiter.Allow("a", t0 + seconds(10), &held));
  EXPECT_EQ(held, 2u);
  EXPECT_FALSE(limiter.Allow("a", t0 + seconds(11), &held));
  EXPECT_TRUE(limiter.Allow("a", t0 + seconds(30), &held));
  EXPECT_EQ(held, 1u);
}

TEST(RepeatLimiterTest, ForgetsWhenTooManyKeysSoNothingIsLostForever) {
  RepeatLimiter limiter(seconds(10), /*max_keys=*/2);
  const RepeatLimiter::Clock::time_point t0{};
  uint64_t held = 0;
  EXPECT_TRUE(limiter.Allow("a", t0, &held));
  EXPECT_TRUE(limiter.Allow("b", t0, &held));
  EXPECT_FALSE(limiter.Allow("a", t0, &held));
  EXPECT_TRUE(limiter.Allow("c", t0, &held));  // the table was full: forgotten
  EXPECT_TRUE(limiter.Allow("a", t0, &held));
}

}  // namespace
}  // namespace flint::flist
