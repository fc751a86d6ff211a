/** Test support: the profile lines that start the usrbio actor in a node (with the buffer pool its FileClient needs). */
export const usrbioActorToml = (socket: string, host: number): string => [
  '[[actors]]', 'name = "usrbio"', 'module = "actors/client/usrbio/usrbio-actor.ts"', 'export = "usrbioActor"', `host = ${host}`,
  '[actors.params]', `socket_path = ${JSON.stringify(socket)}`,
  '[[buffer_pool]]', 'slot_size = "64KiB"', 'slots = 64', '[[buffer_pool]]', 'slot_size = "1MiB"', 'slots = 96',
].join('\n')
