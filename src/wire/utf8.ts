/**
 * UTF-8 sizes of JavaScript strings without encoding them, for limits checked on every key and
 * name (storage layout, replication names).
 */

/** UTF-8 length of `text`, or -1 when it holds a lone surrogate (which has no UTF-8 form). */
export function utf8Length(text: string): number {
  let length = 0
  for (let index = 0; index < text.length; index++) {
    const unit = text.charCodeAt(index)
    if (unit < 0x80) length += 1
    else if (unit < 0x800) length += 2
    else if (unit < 0xd800 || unit > 0xdfff) length += 3
    else if (unit <= 0xdbff && isLowSurrogate(text.charCodeAt(index + 1))) {
      length += 4
      index++
    } else return -1
  }
  return length
}

function isLowSurrogate(unit: number): boolean {
  return unit >= 0xdc00 && unit <= 0xdfff
}
