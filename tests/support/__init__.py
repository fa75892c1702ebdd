"""What tests share: factories, servers, fakes of the outside world, sample inputs. Test
modules import from here, never from one another."""
