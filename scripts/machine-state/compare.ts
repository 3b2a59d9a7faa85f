// Owns what "the tests left the machine as they found it" means: the shape of a snapshot of the machine (its Docker
// daemon's containers and networks, the links, network namespaces and iptables filter/nat rules of the root network
// namespace), the parsers that turn `ip -j -d addr` and `iptables-save` output into it, and the comparison of two
// snapshots. Pure: no I/O here (scripts/machine-state.ts takes the snapshots), so test/unit/machine-state.test.ts
// checks every rule on fixtures.
// Invariants:
//  - anything present after that was not present before is reported (a leak), whoever owns it;
//  - anything present before that is gone or changed after is reported unless the tests own it (a leftover of an
//    earlier, interrupted run that a test cleaned up: see isTestContainer and friends);
//  - what changes by itself is never compared: packet and byte counters, a link's up/down state and IPv6 link-local
//    addresses, the veths dockerd creates for containers on bridge networks (their containers are compared).

export interface ContainerState {
  id: string;
  name: string;
  image: string;
  /** running, exited, created, paused… */
  state: string;
  labels: Record<string, string>;
}

export interface NetworkState {
  id: string;
  name: string;
  driver: string;
  /** The Linux bridge of a bridge network (docker0, br-<id>), else undefined. */
  bridge?: string;
  subnets: string[];
  labels: Record<string, string>;
}

export interface LinkState {
  name: string;
  index: number;
  /** bridge, veth, dummy… (`ip -d`'s info_kind), else the link type (ether, loopback). */
  kind: string;
  master?: string;
  mac?: string;
  /** Addresses other than IPv6 link-local ones, as address/prefix. */
  addresses: string[];
}

export interface TableState {
  /** Chain → policy ("-" for a user chain). */
  chains: Record<string, string>;
  /** The rules as iptables-save prints them without counters, in order. */
  rules: string[];
}

export interface MachineState {
  takenAt: string;
  /** Where the Docker daemon was asked. */
  docker: string;
  /** Why a part could not be read (the part is then empty). */
  errors: Partial<Record<'docker' | 'links' | 'netns' | 'iptables', string>>;
  containers: ContainerState[];
  networks: NetworkState[];
  links: LinkState[];
  netns: string[];
  iptables: Partial<Record<'filter' | 'nat', TableState>>;
}

export interface Difference {
  what: 'docker' | 'container' | 'network' | 'link' | 'netns' | 'iptables';
  /** vanished: in the first snapshot only; appeared: in the second only; changed: in both, different. */
  change: 'vanished' | 'appeared' | 'changed';
  /** One line naming the thing and what differs. */
  text: string;
}

// ------------------------------------------------------------------ what the tests own

/** Labels every test container carries (test/helpers/docker.ts, systemd-host.ts) or a rollback adds (activities/). */
const TEST_LABEL_KEYS = [/^cortex-test(\.|$)/, /^cortex-rollback\./];
/** Compose projects of the tests (test/helpers/compose.ts, test/integration/compose-stack.int.test.ts). */
const TEST_PROJECTS = /^(cortex-netfix-|compose-stack-|compose-ext-)/;
/** Network namespaces of test/helpers/netns.ts. */
const TEST_NETNS = /^cortex-net-/;
/** The fault harness dockerd's own bridge (scripts/faults/infra.ts, harnessBridge). */
const HARNESS_BRIDGE = /^cxf-[0-9a-f]{8}$/;
const PROJECT_LABEL = 'com.docker.compose.project';

export function isTestContainer(c: Pick<ContainerState, 'labels'>): boolean {
  const keys = Object.keys(c.labels);
  return (
    keys.some((k) => TEST_LABEL_KEYS.some((re) => re.test(k))) || TEST_PROJECTS.test(c.labels[PROJECT_LABEL] ?? '')
  );
}

export function isTestNetwork(n: Pick<NetworkState, 'name' | 'labels'>): boolean {
  return TEST_PROJECTS.test(n.labels[PROJECT_LABEL] ?? '') || TEST_PROJECTS.test(n.name);
}

/** dockerd's half of a container's veth pair, on a bridge: it lives and dies with its container. */
function isContainerVeth(l: LinkState): boolean {
  return l.kind === 'veth' && l.master !== undefined;
}

// ------------------------------------------------------------------ parsers

interface IpAddrJson {
  ifindex: number;
  ifname: string;
  link_type?: string;
  address?: string;
  master?: string;
  linkinfo?: { info_kind?: string };
  addr_info?: Array<{ family?: string; local?: string; prefixlen?: number; scope?: string }>;
}

/** `ip -j -d addr show` → links (the operational state is left out: it follows carrier and attached ports). */
export function parseIpAddr(json: string): LinkState[] {
  const raw = JSON.parse(json) as IpAddrJson[];
  return raw
    .filter((l) => typeof l.ifname === 'string')
    .map((l) => ({
      name: l.ifname,
      index: l.ifindex,
      kind: l.linkinfo?.info_kind ?? l.link_type ?? 'unknown',
      ...(l.master ? { master: l.master } : {}),
      ...(l.address ? { mac: l.address } : {}),
      addresses: (l.addr_info ?? [])
        .filter((a) => a.local && !(a.family === 'inet6' && a.scope === 'link'))
        .map((a) => `${a.local}/${a.prefixlen}`)
        .sort(),
    }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** One table of `iptables-save [-c]` → chains and rules, without comments and counters. */
export function parseIptablesSave(text: string): TableState {
  const chains: Record<string, string> = {};
  const rules: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith('*') || line === 'COMMIT') continue;
    if (line.startsWith(':')) {
      const [name, policy] = line.slice(1).split(/\s+/);
      if (name) chains[name] = policy ?? '-';
    } else {
      rules.push(line.replace(/^\[\d+:\d+\]\s+/, '').replace(/\s+-c\s+\d+\s+\d+/, ''));
    }
  }
  return { chains, rules };
}

// ------------------------------------------------------------------ comparison

const describeContainer = (c: ContainerState) =>
  `container ${c.name} (${c.id.slice(0, 12)}, ${c.image}, ${c.state}${isTestContainer(c) ? ', a test container' : ''})`;
const describeNetwork = (n: NetworkState) =>
  `network ${n.name} (${n.id.slice(0, 12)}, ${n.driver}${n.bridge ? ` on ${n.bridge}` : ''}${n.subnets.length ? `, ${n.subnets.join(' ')}` : ''})`;
const describeLink = (l: LinkState) =>
  `link ${l.name} (${[l.kind, l.mac, ...l.addresses, l.master ? `master ${l.master}` : ''].filter(Boolean).join(', ')})`;

function byKey<T>(items: T[], key: (t: T) => string): Map<string, T> {
  return new Map(items.map((t) => [key(t), t]));
}

/** Multiset difference: the items of `a` not matched one for one in `b`. */
function minus(a: string[], b: string[]): string[] {
  const left = new Map<string, number>();
  for (const x of b) left.set(x, (left.get(x) ?? 0) + 1);
  const out: string[] = [];
  for (const x of a) {
    const n = left.get(x) ?? 0;
    if (n > 0) left.set(x, n - 1);
    else out.push(x);
  }
  return out;
}

function inSubnet(ip: string, cidr: string): boolean {
  const [base, bits] = cidr.split('/');
  const toInt = (s: string) => s.split('.').reduce((n, o) => n * 256 + Number(o), 0);
  if (!base || !/^\d+\.\d+\.\d+\.\d+$/.test(base) || !/^\d+\.\d+\.\d+\.\d+$/.test(ip)) return false;
  const mask = Number(bits ?? 32) === 0 ? 0 : 2 ** 32 - 2 ** (32 - Number(bits ?? 32));
  return (toInt(ip) & mask) >>> 0 === (toInt(base) & mask) >>> 0;
}

/** Everything in `after` that differs from `before` and is not the tests' to change; empty when the machine is as it was. */
export function compareStates(before: MachineState, after: MachineState): Difference[] {
  const out: Difference[] = [];
  const add = (what: Difference['what'], change: Difference['change'], text: string) =>
    out.push({ what, change, text });

  for (const part of ['docker', 'links', 'netns', 'iptables'] as const) {
    if (after.errors[part] && !before.errors[part])
      add(part === 'links' ? 'link' : part, 'changed', `${part}: readable before, not after: ${after.errors[part]}`);
  }

  // Containers, by id: one removed and created again under its name is a different container.
  const cAfter = byKey(after.containers, (c) => c.id);
  const cBefore = byKey(before.containers, (c) => c.id);
  for (const c of before.containers) {
    const now = cAfter.get(c.id);
    if (!now) {
      if (!isTestContainer(c)) add('container', 'vanished', `${describeContainer(c)} is gone`);
    } else if (now.state !== c.state || now.image !== c.image || now.name !== c.name) {
      if (!isTestContainer(c))
        add('container', 'changed', `${describeContainer(c)} is now ${now.name}, ${now.image}, ${now.state}`);
    }
  }
  for (const c of after.containers)
    if (!cBefore.has(c.id)) add('container', 'appeared', `${describeContainer(c)} was left behind`);

  // Networks, by name; a different id means it was removed and created again.
  const nAfter = byKey(after.networks, (n) => n.name);
  const nBefore = byKey(before.networks, (n) => n.name);
  for (const n of before.networks) {
    const now = nAfter.get(n.name);
    if (isTestNetwork(n)) continue;
    if (!now) add('network', 'vanished', `${describeNetwork(n)} is gone`);
    else if (now.id !== n.id) add('network', 'changed', `${describeNetwork(n)} was removed and created again`);
    else if (now.bridge !== n.bridge || now.subnets.join() !== n.subnets.join())
      add('network', 'changed', `${describeNetwork(n)} is now ${describeNetwork(now)}`);
  }
  for (const n of after.networks)
    if (!nBefore.has(n.name)) add('network', 'appeared', `${describeNetwork(n)} was left behind`);

  // Links of the root network namespace, by name.
  const ownedBridges = new Set(
    before.networks.filter((n) => isTestNetwork(n) && n.bridge).map((n) => n.bridge as string),
  );
  const ownedLink = (l: LinkState) => ownedBridges.has(l.name) || HARNESS_BRIDGE.test(l.name);
  const lAfter = byKey(after.links, (l) => l.name);
  const lBefore = byKey(before.links, (l) => l.name);
  for (const l of before.links) {
    if (isContainerVeth(l) || ownedLink(l)) continue;
    const now = lAfter.get(l.name);
    if (!now) add('link', 'vanished', `${describeLink(l)} is gone`);
    else if (now.index !== l.index)
      add('link', 'changed', `${describeLink(l)} was deleted and created again (index ${l.index} → ${now.index})`);
    else if (
      now.kind !== l.kind ||
      now.master !== l.master ||
      now.mac !== l.mac ||
      now.addresses.join() !== l.addresses.join()
    )
      add('link', 'changed', `${describeLink(l)} is now ${describeLink(now)}`);
  }
  for (const l of after.links)
    if (!lBefore.has(l.name) && !isContainerVeth(l)) add('link', 'appeared', `${describeLink(l)} was left behind`);

  const nsAfter = new Set(after.netns);
  const nsBefore = new Set(before.netns);
  for (const n of before.netns)
    if (!nsAfter.has(n) && !TEST_NETNS.test(n)) add('netns', 'vanished', `network namespace ${n} is gone`);
  for (const n of after.netns) if (!nsBefore.has(n)) add('netns', 'appeared', `network namespace ${n} was left behind`);

  // iptables of the root namespace. A rule that names a test network's bridge or an address in its subnets
  // belonged to that network (published ports, isolation) and goes with it.
  const ownedSubnets = before.networks.filter(isTestNetwork).flatMap((n) => n.subnets);
  const ownedRule = (r: string) =>
    [...ownedBridges].some((b) => new RegExp(`(^|\\s)${b}(\\s|$)`).test(r)) ||
    (r.match(/\d+\.\d+\.\d+\.\d+/g) ?? []).some((ip) => ownedSubnets.some((s) => inSubnet(ip, s)));
  for (const table of ['filter', 'nat'] as const) {
    const b = before.iptables[table];
    const a = after.iptables[table];
    if (!b && !a) continue;
    if (!a) {
      add('iptables', 'vanished', `iptables ${table} table could not be read after`);
      continue;
    }
    if (!b) {
      add('iptables', 'appeared', `iptables ${table} table could be read after only`);
      continue;
    }
    for (const [chain, policy] of Object.entries(b.chains)) {
      if (!(chain in a.chains)) add('iptables', 'vanished', `iptables ${table}: chain ${chain} is gone`);
      else if (a.chains[chain] !== policy)
        add('iptables', 'changed', `iptables ${table}: chain ${chain} policy ${policy} → ${a.chains[chain]}`);
    }
    for (const chain of Object.keys(a.chains))
      if (!(chain in b.chains)) add('iptables', 'appeared', `iptables ${table}: chain ${chain} was left behind`);
    for (const r of minus(b.rules, a.rules))
      if (!ownedRule(r)) add('iptables', 'vanished', `iptables ${table}: rule gone: ${r}`);
    for (const r of minus(a.rules, b.rules)) add('iptables', 'appeared', `iptables ${table}: rule left behind: ${r}`);
  }
  return out;
}

/**
 * What is wrong within one snapshot: a Docker bridge network whose Linux bridge does not exist (containers on it
 * fail to start, "could not find bridge docker0"). Printed before a run, so a machine broken already is not blamed
 * on the run, and the cause is named.
 */
export function inconsistencies(s: MachineState): string[] {
  if (s.errors.docker || s.errors.links) return [];
  const links = new Set(s.links.map((l) => l.name));
  return s.networks
    .filter((n) => n.bridge && !links.has(n.bridge))
    .map(
      (n) =>
        `Docker network ${n.name} has no bridge ${n.bridge}: its containers cannot start until the daemon that owns ` +
        `it is restarted (a dockerd started with --bridge none in this network namespace deletes docker0)`,
    );
}

export function formatDifferences(diffs: Difference[]): string {
  const sign = { vanished: '-', appeared: '+', changed: '~' } as const;
  return diffs.map((d) => `  ${sign[d.change]} ${d.text}`).join('\n');
}
