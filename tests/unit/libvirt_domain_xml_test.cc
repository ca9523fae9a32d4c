// The domain definition builder: typed fields in, escaped XML out, sizing rules.
#include <gtest/gtest.h>
#include <unistd.h>

#include "common/subprocess.h"

#include "driver/libvirt/domain_xml.h"
#include "network/host_network.h"
#include "driver/libvirt/sandbox_record.h"

namespace zunvm::libvirt {
namespace {

DomainConfig Sample() {
  DomainConfig c;
  c.uuid = "0b7e1c4a-1111-2222-3333-444455556666";
  c.instance = "inst";
  c.virt_type = "qemu";
  c.cpu = 1;
  c.memory_mib = 640;
  c.kernel = "/g/vmlinux";
  c.initrd = "/g/initramfs.cpio";
  c.cmdline = "console=ttyS0 quiet";
  c.console_log = "/s/console.log";
  c.agent_socket = "/s/agent.sock";
  c.disks = {{"/i/rootfs.ext4", "rootfs", true}, {"/i/upper.ext4", "upper", false}};
  return c;
}

NicConfig TapNic() {
  NicConfig n;
  n.mac = "52:54:00:0a:0b:0c";
  n.dev = "zvt0a1b2c3d4e5f";
  return n;
}

// A Neutron port as Nova plugs it into Open vSwitch.
NicConfig OvsNic() {
  NicConfig n;
  n.kind = NicConfig::Kind::kOpenvswitch;
  n.mac = "fa:16:3e:11:22:33";
  n.port_id = "3f2a9c1e-0b7f-4c2a-9e61-3f0d8b2a7c44";
  n.dev = zunvm::OvsTapName(n.port_id);
  n.bridge = "br-int";
  n.mtu = 1450;
  return n;
}

TEST(DomainXml, CarriesNameUuidMetadataAndSizing) {
  std::string x = BuildDomainXml(Sample());
  EXPECT_NE(x.find("<domain type='qemu'>"), std::string::npos) << x;
  EXPECT_NE(x.find("<name>zunvm-0b7e1c4a-1111-2222-3333-444455556666</name>"), std::string::npos);
  EXPECT_NE(x.find("<zunvm:container>0b7e1c4a-1111-2222-3333-444455556666</zunvm:container>"), std::string::npos);
  EXPECT_NE(x.find("<zunvm:instance>inst</zunvm:instance>"), std::string::npos);
  EXPECT_NE(x.find("<memory unit='MiB'>640</memory>"), std::string::npos);
  EXPECT_NE(x.find("<vcpu>1</vcpu>"), std::string::npos);
  EXPECT_EQ(x.find("<cputune>"), std::string::npos);  // a whole cpu: no quota
  EXPECT_NE(x.find("<kernel>/g/vmlinux</kernel>"), std::string::npos);
  EXPECT_NE(x.find("<serial>rootfs</serial><readonly/><shareable/>"), std::string::npos);
  EXPECT_NE(x.find("<target dev='vdb' bus='virtio'/><serial>upper</serial>"
                   "<address type='pci' domain='0x0000' bus='0x00' slot='0x11' function='0x0'/></disk>"),
            std::string::npos) << x;
  EXPECT_NE(x.find("<target type='virtio' name='org.zunvm.agent.0'/>"), std::string::npos);
  EXPECT_NE(x.find("<rng model='virtio'>"), std::string::npos);
  EXPECT_NE(x.find("<memballoon model='none'/>"), std::string::npos);
  EXPECT_EQ(x.find("host-passthrough"), std::string::npos);  // TCG: no host cpu model
}

TEST(DomainXml, KvmPassesTheHostCpuThrough) {
  DomainConfig c = Sample();
  c.virt_type = "kvm";
  EXPECT_NE(BuildDomainXml(c).find("<cpu mode='host-passthrough'/>"), std::string::npos);
}

TEST(DomainXml, FractionalCpuGetsVcpusAndAQuota) {
  EXPECT_EQ(VcpusFor(0.5), 1);
  EXPECT_EQ(VcpusFor(1.0), 1);
  EXPECT_EQ(VcpusFor(1.5), 2);
  EXPECT_EQ(VcpusFor(2.0), 2);
  EXPECT_EQ(VcpuQuotaFor(2.0), 0);
  EXPECT_EQ(VcpuQuotaFor(0.5), 50000);
  EXPECT_EQ(VcpuQuotaFor(1.5), 75000);  // 2 vCPUs share 1.5 cpus
  EXPECT_EQ(VcpuQuotaFor(0.001), 1000);  // libvirt's floor
  DomainConfig c = Sample();
  c.cpu = 1.5;
  std::string x = BuildDomainXml(c);
  EXPECT_NE(x.find("<vcpu>2</vcpu>"), std::string::npos);
  EXPECT_NE(x.find("<cputune><period>100000</period><quota>75000</quota></cputune>"), std::string::npos) << x;
}

// TCG domains may bound the translation cache; KVM domains never carry the element.
TEST(DomainXml, TcgTranslationCacheOnlyForQemuDomains) {
  DomainConfig c = Sample();
  EXPECT_EQ(BuildDomainXml(c).find("<tcg>"), std::string::npos);  // 0: QEMU's default
  c.tb_cache_mib = 48;
  EXPECT_NE(BuildDomainXml(c).find("<features><acpi/><tcg><tb-cache unit='MiB'>48</tb-cache></tcg></features>"),
            std::string::npos) << BuildDomainXml(c);
  c.virt_type = "kvm";
  EXPECT_EQ(BuildDomainXml(c).find("<tcg>"), std::string::npos);
}

// The VM's quota is the container's cpu plus the overhead allowance (its kernel, agent and
// emulation), capped by its vCPUs: a 0.1-cpu container does not boot at a tenth of a CPU.
TEST(DomainXml, CpuOverheadIsAddedToTheQuota) {
  DomainConfig c = Sample();
  c.cpu = 0.1;
  c.cpu_overhead = 0.5;
  std::string x = BuildDomainXml(c);
  EXPECT_NE(x.find("<vcpu>1</vcpu>"), std::string::npos);
  EXPECT_NE(x.find("<quota>60000</quota>"), std::string::npos) << x;
  c.cpu = 0.6;  // 1.1 cpus' worth on 1 vCPU: no quota
  EXPECT_EQ(BuildDomainXml(c).find("<cputune>"), std::string::npos);
  c.cpu = 1.2;  // 2 vCPUs, 1.7 cpus in all
  EXPECT_NE(BuildDomainXml(c).find("<quota>85000</quota>"), std::string::npos);
}

TEST(DomainXml, EveryValueIsEscaped) {
  DomainConfig c = Sample();
  c.cmdline = "a='b' <c> & \"d\"";
  c.console_log = "/s/x'/><evil/>";
  c.disks[0].serial = "</serial><evil/>";
  std::string x = BuildDomainXml(c);
  EXPECT_EQ(x.find("<evil/>"), std::string::npos) << x;
  EXPECT_NE(x.find("<cmdline>a=&apos;b&apos; &lt;c&gt; &amp; &quot;d&quot;</cmdline>"), std::string::npos);
  EXPECT_NE(x.find("path='/s/x&apos;/&gt;&lt;evil/&gt;'"), std::string::npos);
}

size_t CountOf(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(DomainXml, TapNicOnZunvmsNetwork) {
  NicConfig n = TapNic();
  ASSERT_TRUE(ValidateNic(n).ok());
  EXPECT_EQ(BuildInterfaceXml(n),
            "<interface type='ethernet'><mac address='52:54:00:0a:0b:0c'/>"
            "<target dev='zvt0a1b2c3d4e5f' managed='no'/><model type='virtio'/></interface>");
  DomainConfig c = Sample();
  c.nics = {n};
  std::string x = BuildDomainXml(c);
  EXPECT_NE(x.find(BuildInterfaceXml(n)), std::string::npos) << x;
  EXPECT_LT(x.find("<interface"), x.find("<serial type='file'>"));
}

TEST(DomainXml, NeutronPortPlugsIntoOpenvswitchLikeNova) {
  NicConfig n = OvsNic();
  EXPECT_EQ(n.dev, "tap3f2a9c1e-0b");
  ASSERT_TRUE(ValidateNic(n).ok()) << ValidateNic(n).ToString();
  EXPECT_EQ(BuildInterfaceXml(n),
            "<interface type='bridge'><mac address='fa:16:3e:11:22:33'/><source bridge='br-int'/>"
            "<virtualport type='openvswitch'><parameters interfaceid='3f2a9c1e-0b7f-4c2a-9e61-3f0d8b2a7c44'/>"
            "</virtualport><target dev='tap3f2a9c1e-0b'/><model type='virtio'/><mtu size='1450'/></interface>");
}

TEST(DomainXml, IsolatedNicHasNoHostTapAndItsLinkDown) {
  NicConfig n{NicConfig::Kind::kIsolated, "02:00:00:7a:77:01", "", "", "", 0};
  ASSERT_TRUE(ValidateNic(n).ok());
  EXPECT_EQ(BuildInterfaceXml(n),
            "<interface type='ethernet'><mac address='02:00:00:7a:77:01'/><model type='virtio'/>"
            "<link state='down'/></interface>");
  n.mac = "01:00:00:7a:77:01";  // multicast
  EXPECT_FALSE(ValidateNic(n).ok());
}

// libvirt's own schema (virt-xml-validate, from libvirt-clients) accepts `xml`.
void ExpectLibvirtAccepts(const std::string& xml) {
  char path[] = "/tmp/zunvm-domain-XXXXXX";
  int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, xml.data(), xml.size()), static_cast<ssize_t>(xml.size()));
  ::close(fd);
  auto r = RunProcess({"virt-xml-validate", path, "domain"});
  ::unlink(path);
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->exit_code, 0) << r->output << xml;
}

// libvirt's own schema (virt-xml-validate, from libvirt-clients) accepts the whole definition
// with both kinds of NIC.
TEST(DomainXml, ValidatesAgainstLibvirtsSchema) {
  DomainConfig c = Sample();
  c.nics = {TapNic(), OvsNic()};
  c.cpu = 0.5;
  c.hotplug_ports = 2;
  // The two NICs take two root ports; two stay free. The disks, the virtio-serial controller
  // and the rng are on the root bus (slots 0x10-0x13): no root port of theirs to probe.
  EXPECT_EQ(CountOf(BuildDomainXml(c), "model='pcie-root-port'/>"), 4u);
  EXPECT_NE(BuildDomainXml(c).find("<controller type='pci' index='4' model='pcie-root-port'/>"), std::string::npos);
  EXPECT_EQ(CountOf(BuildDomainXml(c), "bus='0x00' slot='0x1"), 4u);
  EXPECT_NE(BuildDomainXml(c).find("<controller type='virtio-serial' index='0'><address type='pci' domain='0x0000' "
                                   "bus='0x00' slot='0x12' function='0x0'/></controller>"),
            std::string::npos);
  ExpectLibvirtAccepts(BuildDomainXml(c));
}

// Pool members (templates and clones): named zunvm-pool-<uuid>, no container in the metadata,
// guest RAM from the template file (shared for the template, private + -incoming defer for a
// clone), never a balloon; libvirt's schema accepts the qemu namespace.
TEST(DomainXml, TemplateAndCloneCarryTheirMemoryOnQemusCommandLine) {
  DomainConfig c = Sample();
  c.pool = true;
  c.disks.clear();
  c.template_memory = TemplateMemory{"/dev/shm/zunvm/i/k/ram", false};
  std::string t = BuildDomainXml(c);
  EXPECT_NE(t.find("<name>zunvm-pool-" + c.uuid + "</name>"), std::string::npos) << t;
  EXPECT_NE(t.find("<zunvm:container></zunvm:container>"), std::string::npos) << t;
  EXPECT_NE(t.find("<zunvm:pool>1</zunvm:pool>"), std::string::npos) << t;
  EXPECT_NE(t.find("xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'"), std::string::npos);
  EXPECT_NE(t.find("mem-path=/dev/shm/zunvm/i/k/ram,share=on,"), std::string::npos) << t;
  EXPECT_NE(t.find("size=640M"), std::string::npos);
  EXPECT_EQ(t.find("-incoming"), std::string::npos);
  EXPECT_NE(t.find("<memballoon model='none'/>"), std::string::npos);
  c.template_memory->clone = true;
  std::string k = BuildDomainXml(c);
  EXPECT_NE(k.find("share=off"), std::string::npos);
  EXPECT_NE(k.find("<qemu:arg value='-incoming'/><qemu:arg value='defer'/>"), std::string::npos) << k;
  EXPECT_NE(k.find("<memballoon model='none'/>"), std::string::npos);
  EXPECT_EQ(k.find("virtio-mem"), std::string::npos);
  ExpectLibvirtAccepts(k);
  EXPECT_FALSE(ValidTemplatePath("/dev/shm/a,share=on"));
  EXPECT_FALSE(ValidTemplatePath("/dev/shm/../etc"));
  EXPECT_FALSE(ValidTemplatePath("relative/ram"));
  EXPECT_TRUE(ValidTemplatePath("/dev/shm/zunvm/0b1c/ram"));
}

TEST(DomainXml, HotPluggedDiskAndClaimedMetadata) {
  std::string d = BuildDiskXml({"/s/upper.ext4", "upper", false}, 'b');
  EXPECT_EQ(d, "<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='/s/upper.ext4'/>"
               "<target dev='vdb' bus='virtio'/><serial>upper</serial></disk>");
  EXPECT_NE(BuildDiskXml({"/i/r'o.ext4", "rootfs", true}, 'a').find("<readonly/><shareable/>"), std::string::npos);
  EXPECT_NE(BuildDiskXml({"/i/r'o.ext4", "rootfs", true}, 'a').find("r&apos;o"), std::string::npos);
  EXPECT_EQ(MetadataXml("u<1", "i"),
            "<sandbox><container>u&lt;1</container><instance>i</instance><pool>1</pool></sandbox>");
}

TEST(DomainXml, HostileNicValuesAreRefused) {
  NicConfig good = OvsNic();
  ASSERT_TRUE(ValidateNic(good).ok());
  auto bad = [&](auto mutate) {
    NicConfig n = good;
    mutate(n);
    return ValidateNic(n).code() == Code::kInvalidArgument;
  };
  EXPECT_TRUE(bad([](NicConfig& n) { n.mac = "01:00:5e:00:00:01"; }));  // multicast
  EXPECT_TRUE(bad([](NicConfig& n) { n.mac = "fa:16:3e:11:22"; }));
  EXPECT_TRUE(bad([](NicConfig& n) { n.mac = "fa:16:3e:11:22:3g"; }));
  EXPECT_TRUE(bad([](NicConfig& n) { n.dev = "much-too-long-name0"; }));
  EXPECT_TRUE(bad([](NicConfig& n) { n.dev = "tap'/><evil"; }));
  EXPECT_TRUE(bad([](NicConfig& n) { n.bridge = "br int"; }));
  EXPECT_TRUE(bad([](NicConfig& n) { n.port_id = "'/><evil/>"; }));
  EXPECT_TRUE(bad([](NicConfig& n) { n.mtu = 70000; }));
}

TEST(SandboxRecord, RoundTripsThroughItsFile) {
  char dir[] = "/tmp/zunvm-rec-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  SandboxRecord r;
  r.spec.uuid = "0b7e1c4a-1111-2222-3333-444455556666";
  r.spec.argv = {"sh", "-c", "echo 'x'"};
  r.spec.env = {{"A", "1"}};
  r.spec.cpu = 0.5;
  r.spec.memory_mib = 256;
  r.spec.image_disk = "/i/r.ext4";
  r.spec.upper_disk = "/i/u.ext4";
  r.state = RecordState::kStopped;
  r.exit_code = 143;
  r.boot = {{"agent_ready_s", 2.5}};
  std::string path = std::string(dir) + "/sandbox.json";
  ASSERT_TRUE(SaveRecord(path, r).ok());
  auto back = LoadRecord(path);
  ASSERT_TRUE(back) << back.error().ToString();
  EXPECT_EQ(back->spec.argv, r.spec.argv);
  EXPECT_EQ(back->spec.env, r.spec.env);
  EXPECT_DOUBLE_EQ(back->spec.cpu, 0.5);
  EXPECT_EQ(back->spec.upper_disk, "/i/u.ext4");
  EXPECT_EQ(back->state, RecordState::kStopped);
  EXPECT_EQ(back->exit_code, 143);
  EXPECT_DOUBLE_EQ(back->boot["agent_ready_s"].get<double>(), 2.5);
  // A damaged record is an error, not a crash.
  { FILE* f = std::fopen(path.c_str(), "w"); std::fputs("{\"spec\": {\"uuid\": 7}}", f); std::fclose(f); }
  EXPECT_FALSE(LoadRecord(path));
  { FILE* f = std::fopen(path.c_str(), "w"); std::fputs("not json", f); std::fclose(f); }
  EXPECT_FALSE(LoadRecord(path));
  std::remove(path.c_str());
  ::rmdir(dir);
}

// A runtime with PCI passthrough (GPU or RDMA): each device a managed VFIO <hostdev> on a root
// port of its own, the machine type from the runtime; libvirt's schema accepts it.
TEST(DomainXml, PassesHostPciDevicesThroughWithVfio) {
  DomainConfig c = Sample();
  c.hostdevs = {"0000:3b:00.0", "0000:af:1f.7"};
  c.hotplug_ports = 0;
  std::string x = BuildDomainXml(c);
  EXPECT_NE(x.find("<hostdev mode='subsystem' type='pci' managed='yes'><driver name='vfio'/><source>"
                   "<address domain='0x0000' bus='0x3b' slot='0x00' function='0x0'/></source></hostdev>"),
            std::string::npos)
      << x;
  EXPECT_NE(x.find("bus='0xaf' slot='0x1f' function='0x7'"), std::string::npos) << x;
  EXPECT_EQ(CountOf(x, "model='pcie-root-port'/>"), 2u);
  EXPECT_NE(x.find("machine='q35'"), std::string::npos);
  ExpectLibvirtAccepts(x);
}

}  // namespace
}  // namespace zunvm::libvirt
