// Owns how failures are written when payloads are encrypted: the SDK's DefaultFailureConverter with
// encodeCommonAttributes, so a failure's message and stack trace move into its encodedAttributes payload (which the
// codec then encrypts) and history keeps only "Encoded failure". Loaded by path (the SDK's failureConverterPath):
// by the worker and client through codec.ts dataConverter(), and bundled into the workflow code (workers/bundle.ts)
// for the failures the workflows themselves raise. Decoding needs nothing from here: every SDK failure converter
// reads encodedAttributes when present, so plain failures (older histories) and encoded ones both read back.
import { DefaultFailureConverter } from '@temporalio/common';

export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
