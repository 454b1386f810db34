#include "cri/oci/stop_signal.h"

#include <gtest/gtest.h>

#include <csignal>

namespace flint::oci {
namespace {

TEST(StopSignalTest, ParsesNamesAndNumbers) {
  EXPECT_EQ(*ParseSignal("SIGUSR1"), SIGUSR1);
  EXPECT_EQ(*ParseSignal("USR1"), SIGUSR1);
  EXPECT_EQ(*ParseSignal("usr1"), SIGUSR1);
  EXPECT_EQ(*ParseSignal("10"), 10);
  EXPECT_EQ(*ParseSignal("SIGRTMIN+3"), 37);
  EXPECT_EQ(*ParseSignal("RTMAX-1"), 63);
  EXPECT_FALSE(ParseSignal("SIGNOPE").ok());
  EXPECT_FALSE(ParseSignal("0").ok());
  EXPECT_FALSE(ParseSignal("65").ok());
}

TEST(StopSignalTest, CriSignalBeatsImageBeatsDefault) {
  EXPECT_EQ(ResolveStopSignal(runtime::v1::SIGNAL_SIGUSR2, "SIGQUIT"), SIGUSR2);
  EXPECT_EQ(ResolveStopSignal(runtime::v1::SIGNAL_RUNTIME_DEFAULT, "SIGQUIT"), SIGQUIT);
  EXPECT_EQ(ResolveStopSignal(runtime::v1::SIGNAL_RUNTIME_DEFAULT, "3"), SIGQUIT);
  EXPECT_EQ(ResolveStopSignal(runtime::v1::SIGNAL_RUNTIME_DEFAULT, ""), SIGTERM);
  EXPECT_EQ(ResolveStopSignal(runtime::v1::SIGNAL_RUNTIME_DEFAULT, "bogus"), SIGTERM);
  EXPECT_EQ(ResolveStopSignal(runtime::v1::SIGNAL_SIGKILL, ""), SIGKILL);
  EXPECT_EQ(SignalFromCri(runtime::v1::SIGNAL_SIGRTMINPLUS1), 35);
  EXPECT_EQ(SignalFromCri(runtime::v1::SIGNAL_SIGRTMAX), 64);
  EXPECT_EQ(SignalFromCri(runtime::v1::SIGNAL_SIGRTMAXMINUS14), 50);
}

}  // namespace
}  // namespace flint::oci
