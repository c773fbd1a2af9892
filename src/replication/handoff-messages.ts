/**
 * The peer message of partition handoff and its strict decoders. A body from the network is
 * untrusted: every field is type-checked and size-bounded, and anything malformed is
 * MurmurError('invalid_request').
 *
 *   transfer.page  the source's records of one keyspace in one partition, in key order after a
 *                  key, at most `limit` records and about TRANSFER_PAGE_BYTES_MAX bytes, each in
 *                  the form the asking receiver keeps; `complete` tells that the page reached
 *                  the end of the keyspace's run (an incomplete page holds at least one record).
 *
 * The request is stamped with the receiver's topology version (src/replication/fencing.ts),
 * which is required here: the source serves a page only once it acts on that version or a
 * later one, so every write it acknowledged under an earlier version is in what it sends.
 */

import { answerBody, array, integer, invalid, keyOf, onlyFields } from './antientropy/messages.js'
import type { MessageLimits } from './messages.js'
import { compareKeys, KEYSPACE_PATTERN } from './names.js'
import { decodeKeyRecord, type KeyRecord } from './record.js'

export const HANDOFF_MESSAGE_TYPES = {
  page: 'transfer.page',
} as const

/** Records in one page at most. */
export const TRANSFER_PAGE_KEYS_MAX = 1024
/**
 * Encoded record bytes a source puts in one page before it stops (a single larger record
 * still goes alone), well below the peer frame limit.
 */
export const TRANSFER_PAGE_BYTES_MAX = 4 * 1024 * 1024

export interface PageMessage {
  readonly partition: number
  readonly keyspace: string
  /** Records strictly after this key; '' starts at the first. */
  readonly after: string
  readonly limit: number
}

export interface PageAnswer {
  readonly records: readonly { readonly key: string; readonly record: KeyRecord }[]
  readonly complete: boolean
}

type Body = Readonly<Record<string, unknown>>

export function decodePage(body: Body, partitionCount: number, limits: MessageLimits): PageMessage {
  onlyFields(body, ['partition', 'keyspace', 'after', 'limit'])
  const keyspace = body['keyspace']
  if (typeof keyspace !== 'string' || !KEYSPACE_PATTERN.test(keyspace)) {
    throw invalid('keyspace must be 1-64 characters of a-z, 0-9, _ and -')
  }
  return {
    partition: integer(body['partition'], 'partition', 0, partitionCount - 1),
    keyspace,
    after: keyOf(body['after'], limits, true),
    limit: integer(body['limit'], 'limit', 1, TRANSFER_PAGE_KEYS_MAX),
  }
}

/**
 * The answer to transfer.page: keys strictly ascending after `after`, at most `limit`, and at
 * least one unless complete, so a receiver's cursor always moves on.
 */
export function decodePageAnswer(
  answer: unknown,
  limits: MessageLimits,
  request: { readonly after: string; readonly limit: number },
): PageAnswer {
  const body = answerBody(answer)
  let previous = request.after
  const records = array(body['records'], 'records', request.limit).map((entry) => {
    if (!Array.isArray(entry) || entry.length !== 2) throw invalid('a page entry is [key, record]')
    const key = keyOf(entry[0], limits)
    if (previous !== '' && compareKeys(key, previous) <= 0) {
      throw invalid('page keys must ascend after the cursor')
    }
    previous = key
    return { key, record: decodeKeyRecord(entry[1], 'invalid_request') }
  })
  const complete = body['complete']
  if (typeof complete !== 'boolean') throw invalid('a page says whether it is complete')
  if (!complete && records.length === 0) throw invalid('an incomplete page holds records')
  return { records, complete }
}
