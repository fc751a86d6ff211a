/**
 * `t3fs/usrbio`: USRBIO for Node processes (client.ts), and the binary layout other languages
 * speak (layout.ts; t3fs_usrbio.py and t3fs_usrbio.h beside it). The server side is the
 * `usrbioActor` of usrbio-actor.ts, started from a node profile (not re-exported here: a client
 * process loads only the client, the layout and the socket).
 */
export { connectUsrbio, UsrbioClient, UsrbioRing, type UsrbioCompletion, type UsrbioFile, type UsrbioRegion } from './client.ts'
export { CQE_BYTES, defaultSocketPath, HEADER_BYTES, MAX_IO_BYTES, MAX_REGION_BYTES, MAX_RING_ENTRIES, OP_READ, OP_WRITE, RING_MAGIC, RING_VERSION, ringBytes, SQE_BYTES } from './layout.ts'
export type { UsrbioParams, UsrbioStatus } from './usrbio-actor.ts'
