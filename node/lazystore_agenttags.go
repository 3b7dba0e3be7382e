package node

import "context"

func (l *lazyStore) SetAgentTags(ctx context.Context, name string, tags []string) error {
	s, err := l.agentsStore()
	if err != nil {
		return err
	}
	return s.SetAgentTags(ctx, name, tags)
}
