// Owns the double's error type. Messages are spelled as Qdrant 1.19 spells them (StorageError's Display: "Wrong input:",
// "Not found:", ...), because callers match on them. `violation` marks errors that mean the double cannot answer
// faithfully (a feature it does not implement), so the server records them in `violations` and tests fail loudly.
export class QdrantError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly violation = false,
  ) {
    super(message);
  }
}

export const badInput = (d: string): QdrantError => new QdrantError(400, `Wrong input: ${d}`);
export const badRequest = (d: string): QdrantError => new QdrantError(400, `Bad request: ${d}`);
export const notFound = (d: string): QdrantError => new QdrantError(404, `Not found: ${d}`);
export const alreadyExists = (d: string): QdrantError => new QdrantError(409, `Wrong input: ${d}`);
export const forbidden = (d: string): QdrantError => new QdrantError(403, `Forbidden: ${d}`);
export const unsupported = (what: string): QdrantError =>
  new QdrantError(501, `Not implemented by the Qdrant double: ${what}`, true);
export const collectionNotFound = (name: string): QdrantError => notFound(`Collection \`${name}\` doesn't exist!`);
