import type { CorpusEpisode } from './index-corpus';

/**
 * Episodes shaped like the issue-16 report: a home show with the fruit-fly passage in the
 * middle of a chunk, and a backup show that keeps saying "gets" (what hash search ranked first).
 * Sentences are 4 s segments (makeTranscript), so a sentence's index is its start in seconds / 4.
 */
export const FRUIT_FLY_SENTENCE = 'To get rid of fruit flies, set a small trap of apple cider vinegar with a drop of dish soap.';

export function fruitFlyEpisodes(): CorpusEpisode[] {
  const home = [
    'Welcome back to the home and garden hour, where we fix the small annoyances of a house.',
    'This week a listener wrote in about her kitchen, which she just repainted in a pale green.',
    'She asked how to keep the counters clear when the whole family cooks at once.',
    'Our answer was hooks on the wall and one shelf that nobody is allowed to fill.',
    'Then she mentioned the bananas on the counter and the cloud above them every evening.',
    FRUIT_FLY_SENTENCE,
    'The vinegar draws them in and the soap breaks the surface, so they sink.',
    'Throw out overripe fruit and rinse the drain, because the larvae live in the gunk there.',
    'After a week the kitchen should be clear of them for good.',
    'Next we talk about squeaky hinges and why a little graphite beats oil.',
    'A door that sticks in summer is usually swelling wood, not a bad hinge.',
    'Sand the edge lightly and seal it with paint so the moisture stays out.',
    'That is all for the house this week; next time we tackle the garden shed.',
  ];
  const backup = [
    'This episode is about backups, and everybody gets this wrong at least once.',
    'The rule is three copies, on two kinds of media, with one copy off site.',
    'Your laptop gets old, the disk gets tired, and one morning it gets quiet.',
    'A sync folder is not a backup, because a deleted file gets deleted everywhere.',
    'Test a restore every month, or you do not know what you have.',
    'Encrypt the off site copy and keep the key somewhere you can find it.',
    'Snapshots on the file server catch the mistakes of a bad afternoon.',
    'Whoever gets the restore call should have a written checklist.',
    'Old drives go to the shredder, not the drawer.',
    'That is the backup episode; go check yours tonight.',
  ];
  return [
    { feedId: 'feed-home', key: 'feed-home:fruit-flies', title: 'Kitchen pests and sticky doors', sentences: home },
    { feedId: 'feed-tech', key: 'feed-tech:backups', title: 'Backups for normal people', sentences: backup },
  ];
}
