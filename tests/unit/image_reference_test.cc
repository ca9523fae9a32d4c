#include "image/reference.h"

#include <gtest/gtest.h>

namespace zunvm::image {
namespace {

TEST(ImageReference, DockerHubNamingRules) {
  auto r = ParseReference("busybox");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->Canonical(), "docker.io/library/busybox:latest");
  EXPECT_EQ(r->FamiliarName(), "busybox");
  EXPECT_EQ(ParseReference("nginx:1.25")->Canonical(), "docker.io/library/nginx:1.25");
  EXPECT_EQ(ParseReference("team/app")->Canonical(), "docker.io/team/app:latest");
  EXPECT_EQ(ParseReference("team/app")->FamiliarName(), "team/app");
}

TEST(ImageReference, RegistriesPortsAndDigests) {
  std::string d = "sha256:" + std::string(64, 'a');
  auto r = ParseReference("registry.example:5000/team/app@" + d);
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->registry, "registry.example:5000");
  EXPECT_EQ(r->repository, "team/app");
  EXPECT_EQ(r->tag, "");
  EXPECT_EQ(r->digest, d);
  EXPECT_FALSE(r->IsLocalRegistry());
  auto l = ParseReference("127.0.0.1:5000/busybox:1.36");
  ASSERT_TRUE(l);
  EXPECT_EQ(l->repository, "busybox");  // no library/ outside docker.io
  EXPECT_EQ(l->tag, "1.36");
  EXPECT_TRUE(l->IsLocalRegistry());
  EXPECT_TRUE(ParseReference("localhost/x")->IsLocalRegistry());
  EXPECT_EQ(ParseReference("localhost:5000/a/b:t@" + d)->Canonical(), "localhost:5000/a/b:t@" + d);
}

TEST(ImageReference, BadOnesAreInvalidArgument) {
  for (const char* bad : {"", "UPPER", "a//b", "a:", "a:-x", "-a", "a@sha256:abc", "a@md5:" , "a b", "a/../b",
                          "a:tag:tag2", "reg.io/", "x@sha256:ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789"}) {
    auto r = ParseReference(bad);
    EXPECT_FALSE(r) << bad;
    if (!r) {
      EXPECT_EQ(r.error().code(), Code::kInvalidArgument);
    }
  }
  EXPECT_FALSE(ParseReference(std::string(600, 'a')));
}

}  // namespace
}  // namespace zunvm::image
