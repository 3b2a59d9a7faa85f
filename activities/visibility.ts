// Owns what a run may publish in visibility (search attributes), read where the workflow cannot: which custom
// search attributes the namespace has registered (OperatorService ListSearchAttributes on the worker's own
// connection), and, when payloads are encrypted (CORTEX_CODEC_KEYS), a keyed digest in place of each free-text
// value. Invariants: never throws for an unreadable list (the answer says why, and the workflow then upserts
// nothing: a missing attribute costs visibility, never the rollback); the free text it digests never leaves this
// activity in clear (the digest is the codec's keyed one, EncryptionCodec.digest: a guessable reason cannot be
// confirmed from it without the key).
import proto from '@temporalio/proto';
import { SEARCH_ATTRIBUTES } from '../common/dev-server.ts';

const IndexedValueType = proto.temporal.api.enums.v1.IndexedValueType;

/** The indexed value types a string value may be upserted into. */
const STRING_TYPES = new Set<number>([
  IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
  IndexedValueType.INDEXED_VALUE_TYPE_TEXT,
  IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
]);

export interface VisibilityDeps {
  /** The namespace's custom search attributes: name → IndexedValueType (the server's ListSearchAttributes). */
  listSearchAttributes?: () => Promise<Record<string, number>>;
  /** The namespace, for messages. */
  namespace?: string;
  /** Payloads are encrypted (a payload codec is configured): free text is then never published in clear. */
  encrypted?: boolean;
  /** The codec's keyed digest of a text (EncryptionCodec.digest); without it, encrypted free text is not published. */
  digest?: (text: string) => string;
  /** How long one list is reused (ms; default 10 s): a rollback's start costs no extra round trip to the server. */
  cacheMs?: number;
}

export interface VisibilityPlanInput {
  /** The free-text values the run would publish, by attribute (e.g. RollbackTrigger: the reason). */
  freeText?: Record<string, string>;
}

export interface VisibilityPlan {
  /** The project's search attributes (SEARCH_ATTRIBUTES) registered on the namespace with a type a string can go into. */
  registered: string[];
  /** Registered, but of a type a string cannot go into (e.g. Int): never upserted. */
  wrongType?: string[];
  /** Why the list could not be read (then `registered` is empty and the run upserts nothing). */
  error?: string;
  /** Payloads are encrypted: only `digests` may be published for the free-text attributes. */
  encrypted: boolean;
  /** attribute → the digest of its free-text value (encrypted runs only; none: the attribute is not published). */
  digests?: Record<string, string>;
}

export function createVisibilityActivities(deps: VisibilityDeps) {
  let cached: { at: number; types: Record<string, number> } | undefined;
  const cacheMs = deps.cacheMs ?? 10_000;
  const list = async (): Promise<Record<string, number>> => {
    if (!deps.listSearchAttributes) throw new Error('this worker was built without a Temporal connection to ask');
    if (cached && Date.now() - cached.at < cacheMs) return cached.types;
    const types = await deps.listSearchAttributes();
    cached = { at: Date.now(), types };
    return types;
  };
  return {
    /**
     * Which search attributes this run may upsert (those the namespace has registered for strings) and, with
     * encryption on, the digests to publish in place of its free text. Never fails: an unreadable list is an
     * `error` and an empty `registered`.
     */
    async visibilityPlan(input: VisibilityPlanInput = {}): Promise<VisibilityPlan> {
      const encrypted = deps.encrypted === true;
      const digest = deps.digest;
      const digests =
        encrypted && digest && input.freeText
          ? Object.fromEntries(Object.entries(input.freeText).map(([k, v]) => [k, digest(v)]))
          : undefined;
      const base = { encrypted, ...(digests ? { digests } : {}) };
      let types: Record<string, number>;
      try {
        types = await list();
      } catch (err) {
        const why = err instanceof Error ? err.message : String(err);
        return {
          ...base,
          registered: [],
          error: `could not list the search attributes of namespace ${deps.namespace ?? '?'}: ${why}`,
        };
      }
      const names = Object.keys(SEARCH_ATTRIBUTES).filter((n) => types[n] !== undefined);
      const wrongType = names.filter((n) => !STRING_TYPES.has(Number(types[n])));
      return {
        ...base,
        registered: names.filter((n) => STRING_TYPES.has(Number(types[n]))),
        ...(wrongType.length ? { wrongType } : {}),
      };
    },
  };
}
