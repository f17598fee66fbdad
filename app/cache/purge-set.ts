import type { ContentChange, PostSnapshot } from '../deps';
import { authorTag, categoryTag, dateTag, feedTag, homeTag, postSlugTag, postTag, searchTag, siteTag, sitemapTag, tagTag } from './tags';

// The dependency map: which purge tags a committed write invalidates. Pages carry the tags they
// depend on (every page of a listing, page 1..N, shares the listing's tag, so pagination siblings
// go together). A post change purges, for BOTH its old and new state (a re-categorised, re-dated
// or unpublished post leaves the old archives too):
//   post:<id> · post-slug:<old slug> · post-slug:<new slug> (the single page is cached by slug,
//   so a slug change purges the old URL too) · list:home · list:search · feed · sitemap
//   list:category:<slug> · list:tag:<slug> · list:author:<username>
//   list:date:<yyyy> · list:date:<yyyy-mm> · list:date:<yyyy-mm-dd>   (UTC calendar of publishedAt)
// A post that was and stays non-public (draft/trash → draft/trash) appears on no listing: only its
// own page tags are purged (post:<id> and its slug tags: a cached 404 of the slug, say). Site changes (settings, renames of
// categories/tags/users) purge `site`, which every page carries.

const isPublic = (post: PostSnapshot | null): post is PostSnapshot =>
  post !== null && (post.status === 'published' || post.status === 'unlisted');

function archiveTags(post: PostSnapshot): string[] {
  const tags = [authorTag(post.authorUsername), ...post.categorySlugs.map(categoryTag), ...post.tagSlugs.map(tagTag)];
  if (post.publishedAt) {
    const d = post.publishedAt;
    const year = d.getUTCFullYear();
    const month = d.getUTCMonth() + 1;
    tags.push(dateTag(year), dateTag(year, month), dateTag(year, month, d.getUTCDate()));
  }
  return tags;
}

export function purgeSetFor(change: ContentChange): string[] {
  if (change.kind === 'site') return [siteTag];
  const { before, after } = change;
  const id = after?.id ?? before?.id;
  if (id === undefined) return [];
  const tags = new Set<string>([postTag(id)]);
  for (const side of [before, after]) if (side) tags.add(postSlugTag(side.slug));
  const publicSides = [before, after].filter(isPublic);
  if (publicSides.length === 0) return [...tags];
  for (const tag of [homeTag, searchTag, feedTag, sitemapTag]) tags.add(tag);
  for (const side of publicSides) for (const tag of archiveTags(side)) tags.add(tag);
  return [...tags];
}
