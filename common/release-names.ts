// Owns the validation of what a system-service rollback hands to systemctl, git and the file system (unit names,
// release tags, the release root, the git remote), so a bad value is refused before any side effect and can
// never become an option or escape its directory. Pure: used by the workflow's input schema and the activities.

const UNIT = /^[a-zA-Z0-9][a-zA-Z0-9:_.@-]{0,239}$/;
const TAG = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,99}$/;
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const CONTROL_OR_SPACE = /[\s\u0000-\u001f\u007f-\u009f]/;

/** A systemd unit name (`cortex-mcp` or `cortex-mcp.service`); never an option. */
export function isValidUnitName(v: unknown): boolean {
  return typeof v === 'string' && UNIT.test(v);
}

/** A git tag that is also a safe folder name under releases/ (no '/', no '..', not an option). */
export function isValidReleaseTag(v: unknown): boolean {
  return typeof v === 'string' && TAG.test(v) && !v.includes('..') && !v.endsWith('.lock');
}

/** An absolute directory path without '..', whitespace or control characters, not '/'. */
export function isValidReleaseRoot(v: unknown): boolean {
  return (
    typeof v === 'string' &&
    v.startsWith('/') &&
    v.length > 1 &&
    v.length <= 1000 &&
    !CONTROL_OR_SPACE.test(v) &&
    !v.split('/').includes('..')
  );
}

/** A git remote: a URL (https, ssh, git, file) or an absolute path; never an option, no credentials. */
export function isValidGitRemote(v: unknown): boolean {
  if (typeof v !== 'string' || v.length === 0 || v.length > 2000 || CONTROL_OR_SPACE.test(v)) return false;
  if (v.startsWith('-')) return false;
  const url = /^(https?|ssh|git|file):\/\/([^/]*)/.exec(v);
  if (url) return !/:[^@/]*@/.test(url[2] ?? ''); // user:password@ would be stored in history
  return v.startsWith('/') || /^[a-zA-Z0-9._-]+@[a-zA-Z0-9.-]+:[^\s]+$/.test(v); // path, or scp-like git@host:repo
}

/** `cortex-mcp` → `cortex-mcp.service`. */
export function fullUnitName(unit: string): string {
  return unit.includes('.') ? unit : `${unit}.service`;
}
